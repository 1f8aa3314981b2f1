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
- hierarchical names that do not point down into the sample (elaborated on its own; a
  sample with such names that pyslang cannot elaborate is refused too), i.e.
  references into the testbench or the reference model, and hierarchical names in a
  module or interface of the sample that nothing in it instantiates (a simulator run
  without ``-s``, as RTLLM's flow is, runs that beside the testbench);
- instances of modules the sample does not define (the reference model, the testbench);
- what it cannot analyse: text pyslang cannot parse or parses with an error (pyslang's
  first diagnostic is the reason), samples over 256 KiB or with NUL bytes, several
  different ```timescale`` values, a failure inside the analysis, an analysis that exceeds
  its memory or time limit (below). No sample is left to the official flow unanalysed.

The official flows compile :attr:`Inspection.text`, never the sample as written: the
tokens pyslang analysed (:func:`verilog_env.hdl.source.expanded_text`: macros expanded,
directives and ```ifdef``-disabled text gone) with the sample's ```timescale`` on the
first line. So no preprocessor difference between pyslang and Icarus (``__ICARUS__``,
which only Icarus defines; ``__slang__`` and ``SV_COV_*``, which only pyslang defines;
macro corner cases) can make Icarus compile code the screen did not see. The sample's
other directives (```define``, ```default_nettype``, ...) no longer reach Icarus, so they
no longer leak into the testbench and reference compiled after it (every shipped
reference still scores as ``manifest.json`` says); pyslang applied them to the sample.

The analysis never runs in the scorer's process: it runs in a pool of worker processes
(one per core, at most 8, forked when a suite loads its problems), each limited to :data:`MEMORY_BYTES` of address
space beyond what it holds with pyslang loaded, and each sample to :data:`SECONDS`. A
worker that exceeds either is replaced and the sample refused (a 600-byte macro bomb grows
pyslang's memory without bound; it is refused in ~3 s). Cost: the round trip to a worker
adds ~0.2 ms to a sample's analysis (0.4-0.6 ms for a benchmark answer; measured on this
2-core machine).

A suite's ``screen_samples = False`` (``verilog-env bench ... --no-screen``) scores
samples exactly as upstream does: nothing is refused and the sample's own text is
compiled (the workers only compute its tokens for the cache; a sample they cannot
analyse just misses that cache).

:attr:`Inspection.canonical` is the sample's tokens without whitespace and comments
(directives, macro usages and text disabled by ```ifdef`` kept): samples equal there
have equal :attr:`Inspection.text` up to whitespace and comments, which Icarus ignores
(it does not honour ``translate_off`` comments), so they compile to the same program and
a pass of one is a pass of the other (:class:`benchmarks.official.ScoreCache`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

SCREENED = "screened"
"""The ``outcome`` of a sample refused by :func:`inspect` (never a pass)."""

MEMORY_BYTES = 1 << 30
"""Address space a screen worker may add to what it holds once pyslang is loaded. A 240 KiB
sample elaborating 260 modules takes 26 MiB (and 0.85 s); a macro bomb reaches this in ~3 s."""
SECONDS = 10.0
"""Wall-clock limit of one sample's analysis (milliseconds for any benchmark answer)."""

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
    canonical: str | None  # its tokens without whitespace and comments (None: not analysed)
    text: str  # what the official flow compiles: the analysed tokens when screening, else the sample itself


@functools.lru_cache(maxsize=64)  # a suite's score() and run_official() ask in turn for the same sample
def inspect(code: str, top: str | None, screen: bool = True) -> Inspection:
    """The screen's view of ``code``, whose top module must be ``top``: why it may not run in
    an official testbench (with ``screen``; None when it may), its tokens without whitespace
    and comments, and the text the official flow compiles. Analysed in a worker process."""
    import pebble

    from verilog_env import workers

    try:
        job = _pool().schedule(workers.guarded, args=(_analyse, code, top, screen), timeout=SECONDS)
        return job.result()
    except TimeoutError:
        why = f"analysing the sample exceeded the screen's {SECONDS:g} s time limit"
    except pebble.ProcessExpired as error:
        why = (f"analysing the sample exceeded the screen's {MEMORY_BYTES >> 20} MiB memory limit"
               if workers.out_of_memory(error) else
               f"analysing the sample killed the screen's worker (exit status {error.exitcode})")
    except Exception as error:  # noqa: BLE001 - a sample the screen cannot analyse is refused
        why = f"analysing the sample failed: {type(error).__name__}: {error}"[:500]
    return Inspection(why if screen else None, None, code)


# --- the worker pool ----------------------------------------------------------------

def _pool():
    """The screen's workers (:mod:`verilog_env.workers`, imported here so that ``import
    benchmarks`` loads no pyslang): forked (a worker starts in milliseconds and never
    re-runs the caller's script), each loads pyslang and may then add :data:`MEMORY_BYTES`
    of address space (a scorer that loaded torch holds gigabytes). At most 8 (50 MiB
    each, idle): an analysis is a few percent of a sample's time, so a few workers keep
    every core's simulator busy."""
    from verilog_env import workers

    spec = workers.PoolSpec(
        "screen", memory_bytes=MEMORY_BYTES, beyond_held=True, warm=("verilog_env.hdl.design",),
        max_workers=8,
    )
    return workers.get_pool(spec)


def start() -> None:
    """Start the workers now (suites do when they load their problems): each loads pyslang
    while the caller does other work, instead of on the first sample."""
    _pool().schedule(os.getpid)


def shutdown() -> None:
    """Stop the screen's workers (they start again on the next :func:`inspect`)."""
    from verilog_env import workers

    workers.shutdown("screen")


# --- the analysis (in a worker) -----------------------------------------------------

def _analyse(code: str, top: str | None, screen: bool) -> Inspection:
    from pyslang import parsing, syntax

    from verilog_env.hdl.source import MAX_SOURCE_BYTES, expanded_text, parse

    def refuse(why: str) -> Inspection:
        return Inspection(why if screen else None, None, code)

    if len(code.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        return refuse(f"sample is larger than {MAX_SOURCE_BYTES >> 10} KiB, the most the screen analyses")
    if "\x00" in code:
        return refuse("sample contains NUL bytes (binary data, not Verilog)")
    try:
        source = parse(code, "sample.sv")
    except ValueError as error:
        return refuse(f"sample cannot be parsed: {error}")

    kinds, layout = syntax.SyntaxKind, _layout_kinds()
    parts: list[str] = []
    printing: list[str] = []
    timescales: set[str] = set()
    declared: dict[str, Any] = {}  # module, interface and primitive names -> their declarations
    instantiated: set[str] = set()
    dotted = False  # any hierarchical name (a.b) in the text

    def visit(node) -> None:
        nonlocal dotted
        if isinstance(node, parsing.Token):
            for trivia in node.trivia:
                if trivia.kind not in layout:
                    directive = trivia.syntax()
                    if directive is not None and directive.kind == kinds.TimeScaleDirective:
                        timescales.add(" ".join(str(directive).split()))
                    parts.append((str(directive) if directive is not None else trivia.getRawText()).strip())
            parts.append(node.rawText)
            if node.kind == parsing.TokenKind.SystemIdentifier and node.valueText in CONSOLE_OUTPUT_TASKS:
                if node.valueText not in printing:
                    printing.append(node.valueText)
        elif node.kind in (kinds.ModuleDeclaration, kinds.InterfaceDeclaration):
            declared.setdefault(node.header.name.valueText, node)
        elif node.kind == kinds.UdpDeclaration:
            declared.setdefault(node.name.valueText, node)
        elif node.kind == kinds.HierarchyInstantiation:
            instantiated.add(node.type.valueText)
        elif node.kind == kinds.ScopedName and node.separator.valueText == ".":
            dotted = True

    source.tree.root.visit(visit)
    canonical = "\x1f".join(parts)
    if not screen:
        return Inspection(None, canonical, code)
    refusal = _refusal(code, source, top, printing, timescales, declared, instantiated, dotted)
    if refusal is not None:
        return Inspection(refusal, canonical, code)
    return Inspection(None, canonical, expanded_text(source, timescales.pop() if timescales else ""))


@functools.lru_cache(maxsize=1)
def _layout_kinds() -> frozenset:
    """Whitespace and comment trivia kinds."""
    from pyslang import parsing

    kinds = parsing.TriviaKind
    return frozenset({kinds.Whitespace, kinds.EndOfLine, kinds.LineComment, kinds.BlockComment})


def _dotted_names(node) -> list[str]:
    """The hierarchical (dotted) names under a syntax node, in order."""
    from pyslang import syntax

    found: list[str] = []

    def visit(child) -> None:
        if getattr(child, "kind", None) == syntax.SyntaxKind.ScopedName and child.separator.valueText == ".":
            found.append(" ".join(str(child).split()))

    node.visit(visit)
    return found


def _refusal(code: str, source, top: str | None, printing: list[str], timescales: set[str],
             declared: dict[str, Any], instantiated: set[str], dotted: bool) -> str | None:
    from verilog_env.hdl.design import DesignError, analyze
    from verilog_env.hdl.policy import find_violations
    from verilog_env.hdl.source import format_diagnostics

    violations = find_violations(source, limit=3)
    if violations:
        return "sample breaks the candidate policy: " + "; ".join(map(str, violations))
    if printing:
        return (f"sample prints to the console ({', '.join(printing)}), where the testbench "
                "reports its verdict")
    errors = [d for d in source.tree.diagnostics if d.isError()]
    if errors:
        return "pyslang cannot parse the sample: " + format_diagnostics(errors, source.source_manager, 1).splitlines()[0]
    if len(timescales) > 1:
        return f"sample has several different `timescale directives ({', '.join(sorted(timescales))})"
    undefined = sorted(instantiated - set(declared))
    if undefined:
        return (f"sample instantiates {', '.join(undefined)}, which it does not define (a module of the "
                "testbench or the reference model)")
    if not dotted:
        return None
    for name, node in declared.items():
        names = _dotted_names(node) if name != top and name not in instantiated else []
        if names:
            return (f"sample's {name} is instantiated by nothing in it, so a simulator runs it beside the "
                    f"testbench, and it uses hierarchical names ({names[0]})")
    try:
        analyze(code, name="sample.sv", role="candidate", top=top)
    except DesignError as error:
        if error.reason.startswith("hierarchical reference"):
            return "sample " + error.reason + " (into the testbench)"
        # Where its hierarchical names lead is unknown unless the sample elaborates.
        return ("sample uses hierarchical names and cannot be elaborated to check where they lead: "
                + (error.reason.strip().splitlines() or [error.status])[0])
    return None
