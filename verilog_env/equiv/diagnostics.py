"""Compiler messages in the user's terms: the one translation from what a tool compiled
back to what the user wrote.

A judge never compiles the user's text as written. Candidate ``k`` of a run is the work
file ``candidate<k>.v`` holding its canonical text (:func:`~verilog_env.hdl.rename.prefix_modules`:
a `timescale line first, macros expanded, directives gone, so its lines are not the
user's), every module renamed ``c<nonce>_<k>_<name>`` and instantiated by the testbench
module ``verilog_env_tb_<nonce>`` under an instance name made from the nonce; the golden
likewise (``golden.v``, ``vlenv_g_<name>``). A simulator's log says all of that.

:func:`translate_log` turns such a log back: only the design's own file is quoted, under
the name pyslang's diagnostics already use (:data:`ANSWER_FILE` for a candidate,
:data:`GOLDEN_FILE` for a golden), at the user's line numbers, with the user's module
names; the testbench's names are gone. Every verdict that quotes a compiler or simulator
log goes through it, so ``verdict.reason`` and ``verdict.details``, the environment's
feedback, the HTTP service and the CLI all read the same text. :func:`shown_as` (the CLI)
only swaps those two file names for the user's paths.
"""

from __future__ import annotations

import dataclasses
import re

from pyslang import parsing

from ..hdl.design import Design
from ..hdl.source import ParsedSource, expanded_text, parse
from . import testbench
from .verdict import Verdict

ANSWER_FILE = "answer.v"
"""The candidate's file name in every verdict (pyslang's diagnostics and compiler logs)."""
GOLDEN_FILE = "golden.v"
"""The golden's file name in every verdict."""

LOCATED = re.compile(r"^(?P<lead>\s*(?:%[A-Za-z]+(?:-[A-Z0-9_]+)?:\s*)?)(?P<file>[^:\s]+):(?P<line>\d+):(?P<rest>.*)$")
"""A located message: Icarus's ``file:line: ...``, Verilator's ``%Error: file:line:col: ...``
and ``%Warning-CODE: file:line:col: ...`` (``lead`` holds the ``%...:`` part)."""
_NOISE = ("I give up", "See the manual at", "Exiting due to")
_EXCERPT = re.compile(r"^\s+\d*\s*\|")
"""Verilator's quote of the work file (``   9 | reg c;`` and its caret line): its line numbers
are the work file's, so it is dropped (the located line above it says where)."""


def _tokens(source: ParsedSource) -> list:
    tokens: list = []

    def visit(node) -> None:
        if isinstance(node, parsing.Token):
            tokens.append(node)

    source.tree.root.visit(visit)
    return tokens


def source_lines(design: Design) -> dict[int, int]:
    """Line of the design's work file (its canonical text) -> line of the text the user
    wrote, for every work-file line that holds a token.

    The work file is printed from the user's parse tree token by token, so the two token
    streams pair up: a token written by the user maps to its own line, a token a macro
    expanded to maps to the line of the macro's use (an argument to where it was
    written). Empty when the streams do not pair (then no line number is trusted).
    """
    reparsed = parse(expanded_text(design.source, design.timescale), design.source.name)
    written, printed = _tokens(design.source), _tokens(reparsed)
    if len(written) != len(printed):
        return {}
    manager, printed_manager = design.source.source_manager, reparsed.source_manager
    lines: dict[int, int] = {}
    for mine, theirs in zip(written, printed):
        if mine.rawText != theirs.rawText:
            return {}
        where = mine.location
        where = manager.getFullyOriginalLoc(where) if manager.isMacroArgLoc(where) else manager.getFullyExpandedLoc(where)
        lines.setdefault(printed_manager.getLineNumber(theirs.location), manager.getLineNumber(where))
    return lines


def _user_line(line: int, lines: dict[int, int]) -> int | None:
    """The user's line for work-file ``line``: its own, else the nearest token line above."""
    for candidate in range(line, 0, -1):
        if candidate in lines:
            return lines[candidate]
    return None


def translate_log(
    log: str, design: Design, *, work_file: str, prefix: str, nonce: str = "", shown: str = ANSWER_FILE
) -> str:
    """``log`` (a compiler's or simulator's output for a run that compiled ``design`` as
    ``work_file`` with its modules renamed ``prefix + name``, in a testbench made from
    ``nonce``) in the user's terms: lines quoting other files (the testbench, other
    candidates) dropped; ``work_file:N:`` becomes ``shown:M:`` with M the user's line (no
    number when it cannot be told); renamed modules get their names back; the testbench's
    instance of the design reads as the design's top and the testbench itself as
    ``testbench``. Lines without a file (``1 error(s) during elaboration.``) are kept."""
    lines: dict[int, int] | None = None
    out = []
    for line in log.splitlines():
        if not line.strip() or any(noise in line for noise in _NOISE) or _EXCERPT.match(line):
            continue
        located = LOCATED.match(line)
        if located:
            if located.group("file") != work_file:
                continue
            if lines is None:
                lines = source_lines(design)
            number = _user_line(int(located.group("line")), lines)
            lead, rest = located.group("lead"), located.group("rest")
            line = f"{lead}{shown}:{number}:{rest}" if number else f"{lead}{shown}:{rest}"
        out.append(line)
    text = "\n".join(out)
    modules = set(design.modules)
    text = re.sub(
        rf"(?<![\w$]){re.escape(prefix)}([A-Za-z_][\w$]*)",
        lambda m: m.group(1) if m.group(1) in modules else m.group(0),
        text,
    )
    if nonce:
        bench = re.escape(testbench.module_name(nonce))
        text = re.sub(rf"{bench}\.[\w$]*{nonce}[\w$]*", design.top, text)  # the design's instance
        text = re.sub(bench, "testbench", text)
        text = re.sub(rf"[\w$]*{nonce}[\w$]*", design.top, text)  # what else the nonce named: the instance
    return text


def translate_message(
    message: str, design: Design, *, work_file: str, prefix: str, shown: str = ANSWER_FILE
) -> str:
    """A one-line tool message that quotes ``work_file:N:`` inside the line (Yosys's
    ``Yosys cannot read the candidate: candidate.v:3: ERROR: ...``) in the user's terms, as
    :func:`translate_log` does for whole logs: ``shown:M:`` at the user's line M (no number
    when it cannot be told), renamed modules under their own names."""
    lines: dict[int, int] | None = None

    def locate(match: re.Match) -> str:
        nonlocal lines
        if lines is None:
            lines = source_lines(design)
        number = _user_line(int(match.group(1)), lines)
        return f"{shown}:{number}:" if number else f"{shown}:"

    text = re.sub(rf"(?<![\w./-]){re.escape(work_file)}:(\d+):", locate, message)
    modules = set(design.modules)
    return re.sub(
        rf"(?<![\w$]){re.escape(prefix)}([A-Za-z_][\w$]*)",
        lambda m: m.group(1) if m.group(1) in modules else m.group(0),
        text,
    )


def shown_as(verdict: Verdict, *, candidate: str | None = None, golden: str | None = None) -> Verdict:
    """``verdict`` with :data:`ANSWER_FILE` / :data:`GOLDEN_FILE` at the start of its
    messages' lines named ``candidate`` / ``golden`` instead (the files a CLI user gave)."""
    names = {ANSWER_FILE: candidate, GOLDEN_FILE: golden}
    names = {k: v for k, v in names.items() if v}
    if not names:
        return verdict
    pattern = re.compile(rf"^({'|'.join(map(re.escape, names))}):(?=\d|\s)", re.MULTILINE)

    def rename(text):
        return pattern.sub(lambda m: names[m.group(1)] + ":", text) if isinstance(text, str) else text

    details = {k: rename(v) for k, v in verdict.details.items()}
    return dataclasses.replace(verdict, reason=rename(verdict.reason), details=details)
