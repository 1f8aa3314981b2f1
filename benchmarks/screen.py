"""Screening a sample before a benchmark's own testbench runs it.

The official flows read their verdict from the simulation's console output
(VerilogEval: a ``Mismatches: 0 in N samples`` line; RTLLM: a ``Your Design Passed``
banner), and they run the sample inside the testbench's simulation. So a sample that
ends the simulation early (``initial $finish;`` makes VerilogEval print ``Mismatches: 0 in
0 samples``, a pass), prints a pass banner itself, or reaches into the testbench through
a hierarchical name can pass upstream's flow without implementing anything. A policy
trained by RL finds such answers.

:func:`inspect` refuses them before anything is compiled, with the reason:

- everything :mod:`verilog_env.hdl.policy` refuses in a candidate (simulation control,
  file I/O, host access, `include, force/release, bind, $root, ...);
- console output (``$display``, ``$write``, ``$strobe``, ``$monitor``, ``$info``,
  ``$warning``, ``$error`` and their variants): the verdict is read from the console;
- hierarchical names that do not resolve inside the sample (elaborated on its own), i.e.
  references into the testbench or the reference model.

A suite's ``screen_samples = False`` (``verilog-env bench ... --no-screen``) scores
samples exactly as upstream does.

:func:`inspect` also gives the sample's tokens without whitespace and comments (directives,
macro expansions and text disabled by `ifdef kept): samples equal there compile to the
same program, so a pass of one is a pass of the other (:class:`benchmarks.official.ScoreCache`).
"""

from __future__ import annotations

import dataclasses
import functools

SCREENED = "screened"
"""The ``outcome`` of a sample refused by :func:`inspect` (never a pass)."""

@functools.lru_cache(maxsize=1)
def _layout_kinds() -> frozenset:
    """Whitespace and comment trivia kinds (pyslang is imported on first use)."""
    from pyslang import parsing

    kinds = parsing.TriviaKind
    return frozenset({kinds.Whitespace, kinds.EndOfLine, kinds.LineComment, kinds.BlockComment})


CONSOLE_OUTPUT_TASKS = frozenset(
    """
    $display $displayb $displayh $displayo $write $writeb $writeh $writeo
    $strobe $strobeb $strobeh $strobeo $monitor $monitorb $monitorh $monitoro
    $monitoron $monitoroff $info $warning $error
    """.split()
)


@dataclasses.dataclass(frozen=True)
class Inspection:
    refusal: str | None  # why the sample may not run (None: it may)
    canonical: str | None  # its tokens without whitespace and comments (None: unparseable)


def inspect(code: str, top: str | None, screen: bool = True) -> Inspection:
    """Parse ``code`` once: why it may not run in an official testbench (with ``screen``;
    None when it may) and its tokens without whitespace and comments.

    Text that pyslang cannot parse is left to the official flow (its compiler decides).
    """
    from pyslang import parsing

    from verilog_env.hdl.source import parse

    try:
        source = parse(code, "sample.sv")
    except ValueError:
        return Inspection(None, None)
    parts: list[str] = []
    printing: list[str] = []
    layout = _layout_kinds()

    def visit(node) -> None:
        if not isinstance(node, parsing.Token):
            return
        for trivia in node.trivia:
            if trivia.kind not in layout:
                syntax = trivia.syntax()
                parts.append((str(syntax) if syntax is not None else trivia.getRawText()).strip())
        parts.append(node.rawText)
        if node.kind == parsing.TokenKind.SystemIdentifier and node.valueText in CONSOLE_OUTPUT_TASKS:
            if node.valueText not in printing:
                printing.append(node.valueText)

    source.tree.root.visit(visit)
    text = "\x1f".join(parts)
    return Inspection(_refusal(code, source, printing, top) if screen else None, text)


def _refusal(code: str, source, printing: list[str], top: str | None) -> str | None:
    from verilog_env.hdl.design import DesignError, analyze, declared_modules_and_dotted_names
    from verilog_env.hdl.policy import find_violations

    violations = find_violations(source, limit=3)
    if violations:
        return "sample breaks the candidate policy: " + "; ".join(map(str, violations))
    if printing:
        return (f"sample prints to the console ({', '.join(printing)}), where the testbench "
                "reports its verdict")

    _, dotted = declared_modules_and_dotted_names(source)
    if dotted:
        try:
            analyze(code, name="sample.sv", role="candidate", top=top)
        except DesignError as error:
            if error.reason.startswith("hierarchical reference"):
                return "sample " + error.reason + " (into the testbench)"
        except Exception:  # noqa: BLE001 - pyslang trouble: leave the verdict to the official flow
            return None
    return None
