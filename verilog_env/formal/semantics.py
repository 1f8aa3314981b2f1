"""Constructs whose simulation and synthesis meanings differ: the formal model would lie.

Yosys reads Verilog the way synthesis does; the simulator (and so the project's notion
of "behaves like the golden") follows the event semantics of the language. Where the two
part ways, a formal proof would be about a different design than the one simulated, so
the formal back end refuses such designs with a reason (result ``unknown``):

* delays other than on a nonblocking assignment (``#5 y = a;``, ``assign #2``,
  ``wire #1``): both engines read the design without them (see
  :func:`verilog_env.hdl.source.canonical_text`), but a design written with such
  timing is not what its author meant at gate level, so formal does not certify it;
  ``q <= #1 d`` is read as ``q <= d`` and proven like any other design;
* an ``always @(a or b)`` whose list misses a signal the block reads: synthesis makes it
  combinational, the simulator only re-evaluates on the listed signals (latch-like);
* an ``always @*`` that reads no signal: synthesis drives its constant, the simulator
  never runs it (its outputs stay X);
* an ``always`` with no event control at all, or one mixing edges and levels.

These are found on pyslang's elaborated model of the design, like the rest of the
analysis (:mod:`verilog_env.hdl.design`).
"""

from __future__ import annotations

from pyslang import ast, syntax

from ..hdl.design import Design
from ..hdl.source import compile_sources

SK = syntax.SyntaxKind
_DELAYS = {SK.DelayControl, SK.Delay3, SK.CycleDelay, SK.OneStepDelay}
_SIGNAL_KINDS = {ast.SymbolKind.Variable, ast.SymbolKind.Net}


def _line(design: Design, location) -> int:
    try:
        original = design.source.source_manager.getFullyExpandedLoc(location)
        return design.source.text.count("\n", 0, original.offset) + 1
    except Exception:  # noqa: BLE001 - a line number is a nicety
        return 0


def _nonblocking_delay(node) -> bool:
    """``q <= #1 d``: the common, harmless style, which both engines read without the delay."""
    parent = node.parent
    return (
        parent is not None
        and parent.kind == SK.TimingControlExpression
        and parent.parent is not None
        and parent.parent.kind == SK.NonblockingAssignmentExpression
    )


def _root_symbol(expr):
    while expr is not None:
        kind = expr.kind
        if kind == ast.ExpressionKind.NamedValue:
            return expr.symbol
        if kind in (ast.ExpressionKind.ElementSelect, ast.ExpressionKind.RangeSelect) or kind == ast.ExpressionKind.MemberAccess:
            expr = expr.value
        elif kind == ast.ExpressionKind.Conversion:
            expr = expr.operand
        else:
            return None
    return None


def _events(timing) -> list | None:
    if timing.kind == ast.TimingControlKind.SignalEvent:
        return [timing]
    if timing.kind == ast.TimingControlKind.EventList:
        return list(timing.events)
    return None


def semantic_blockers(design: Design, role: str) -> list[str]:
    """Reasons the formal model would not mean what the simulator does (empty: none)."""
    problems: list[str] = []

    def visit_syntax(node):
        if len(problems) >= 3:
            return
        kind = getattr(node, "kind", None)
        if kind in _DELAYS and not _nonblocking_delay(node):
            line = _line(design, node.getFirstToken().location)
            problems.append(
                f"the {role} uses a delay (line {line}): it is checked with synthesis semantics (delays removed), "
                "and formal verification certifies only designs whose delays are on nonblocking assignments"
            )

    design.source.tree.root.visit(visit_syntax)
    if problems:
        return problems[:1]

    compilation = compile_sources([design.source], top=design.top)
    tops = [inst for inst in compilation.getRoot().topInstances if inst.name == design.top]
    if not tops:
        return problems

    # Nets driven by continuous assignments, with the signals each one reads: an
    # always @(a) that reads `w` where `assign w = a` is not missing anything.
    drivers: dict = {}

    def collect_assigns(symbol):
        if isinstance(symbol, ast.ContinuousAssignSymbol):
            assignment = symbol.assignment
            if assignment.kind == ast.ExpressionKind.Assignment:
                root = _root_symbol(assignment.left)
                if root is not None:
                    reads: set = set()

                    def visit_rhs(node):
                        if (
                            isinstance(node, ast.Expression)
                            and node.kind == ast.ExpressionKind.NamedValue
                            and node.symbol.kind in _SIGNAL_KINDS
                        ):
                            reads.add(node.symbol)
                        return ast.VisitAction.Advance

                    assignment.right.visit(visit_rhs)
                    drivers.setdefault(root, set()).update(reads)
        return ast.VisitAction.Advance

    tops[0].visit(collect_assigns)

    def covered(listed: set) -> set:
        done = set(listed)
        changed = True
        while changed:
            changed = False
            for net, reads in drivers.items():
                if net not in done and reads and reads <= done:
                    done.add(net)
                    changed = True
        return done

    def check_block(block) -> None:
        if block.procedureKind != ast.ProceduralBlockKind.Always:
            return
        body = block.body
        line = _line(design, block.location)
        if body.kind != ast.StatementKind.Timed:
            problems.append(f"the {role} has an always block without an event control (line {line})")
            return
        timing = body.timing
        named: set = set()
        written: set = set()

        def visit_body(node):
            if isinstance(node, ast.Expression):
                if node.kind == ast.ExpressionKind.NamedValue and node.symbol.kind in _SIGNAL_KINDS:
                    named.add(node.symbol)
                elif node.kind == ast.ExpressionKind.Assignment:
                    root = _root_symbol(node.left)
                    if root is not None:
                        written.add(root)
                    elif node.left.kind == ast.ExpressionKind.Concatenation:
                        for operand in node.left.operands:
                            root = _root_symbol(operand)
                            if root is not None:
                                written.add(root)
            return ast.VisitAction.Advance

        body.stmt.visit(visit_body)
        reads = named - written
        if timing.kind == ast.TimingControlKind.ImplicitEvent:
            if not reads:
                problems.append(
                    f"the {role} has an always @* block that reads no signal (line {line}): "
                    "the simulator never runs it, synthesis drives its value"
                )
            return
        events = _events(timing)
        if events is None:
            return
        level = ast.EdgeKind.None_
        edges = [e.edge for e in events if e.kind == ast.TimingControlKind.SignalEvent]
        if any(edge != level for edge in edges):
            if any(edge == level for edge in edges):
                problems.append(f"the {role} has an always block mixing edge and level events (line {line})")
            return
        listed = {_root_symbol(e.expr) for e in events if e.kind == ast.TimingControlKind.SignalEvent}
        missing = sorted(s.name for s in reads - covered(listed))
        if missing:
            problems.append(
                f"the {role}'s always @(...) list (line {line}) misses {', '.join(missing[:4])}: "
                "synthesis reads it as combinational logic, the simulator does not"
            )

    def visit(symbol):
        if len(problems) >= 3:
            return ast.VisitAction.Skip
        if isinstance(symbol, ast.ProceduralBlockSymbol):
            check_block(symbol)
            return ast.VisitAction.Skip
        return ast.VisitAction.Advance

    tops[0].visit(visit)
    return problems
