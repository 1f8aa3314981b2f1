"""Screening a sample before a benchmark's own testbench runs it.

The official flows read their verdict from the simulation's console output
(VerilogEval: a ``Mismatches: 0 in N samples`` line; RTLLM: a ``Your Design Passed``
banner), and they run the sample inside the testbench's simulation. So a sample that
ends the simulation early (``initial $finish;`` makes VerilogEval print ``Mismatches: 0 in
0 samples``, a pass), prints a pass banner itself, or reaches into the testbench through
a hierarchical name can pass upstream's flow without implementing anything. A policy
trained by RL finds such answers.

:func:`screen` refuses them before anything is compiled, with the reason:

- everything :mod:`verilog_env.hdl.policy` refuses in a candidate (simulation control,
  file I/O, host access, `include, force/release, bind, $root, ...);
- console output (``$display``, ``$write``, ``$strobe``, ``$monitor``, ``$info``,
  ``$warning``, ``$error`` and their variants): the verdict is read from the console;
- hierarchical names that do not resolve inside the sample (elaborated on its own), i.e.
  references into the testbench or the reference model.

A suite's ``screen_samples = False`` (``verilog-env bench ... --no-screen``) scores
samples exactly as upstream does.
"""

from __future__ import annotations

SCREENED = "screened"
"""The ``outcome`` of a sample refused by :func:`screen` (never a pass)."""

CONSOLE_OUTPUT_TASKS = frozenset(
    """
    $display $displayb $displayh $displayo $write $writeb $writeh $writeo
    $strobe $strobeb $strobeh $strobeo $monitor $monitorb $monitorh $monitoro
    $monitoron $monitoroff $info $warning $error
    """.split()
)


def screen(code: str, top: str) -> str | None:
    """Why ``code`` may not run in an official testbench, or None when it may.

    Text that pyslang cannot parse is left to the official flow (its compiler decides).
    """
    from pyslang import parsing

    from verilog_env.hdl.design import DesignError, analyze, declared_modules_and_dotted_names
    from verilog_env.hdl.policy import find_violations
    from verilog_env.hdl.source import parse

    try:
        source = parse(code, "sample.sv")
    except ValueError:
        return None
    violations = find_violations(source, limit=3)
    if violations:
        return "sample breaks the candidate policy: " + "; ".join(map(str, violations))

    printing: list[str] = []

    def visit(node) -> None:
        if isinstance(node, parsing.Token) and node.kind == parsing.TokenKind.SystemIdentifier:
            if node.valueText in CONSOLE_OUTPUT_TASKS and node.valueText not in printing:
                printing.append(node.valueText)

    source.tree.root.visit(visit)
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
