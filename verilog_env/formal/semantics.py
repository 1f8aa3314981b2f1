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
* an ``always`` with no event control at all, or one mixing edges and levels;
* a bit- or part-select in an ``always @(...)`` list covers only what it selects:
  ``always @(a[0] or b) y = a[1] & b;`` misses ``a[1]`` (constant selects are compared
  bit for bit; a select the list cannot match exactly counts as missing);
* a system function Yosys does not give the simulator's meaning. Of the candidate
  policy's allow-list, Yosys 0.23 models :data:`FORMAL_SYSTEM_NAMES` as the simulator
  does (``$bits`` except of an unpacked array: 32 for ``reg [3:0] m [0:7]`` in Yosys, 4
  in Icarus Verilog 11); the rest it evaluates differently (``$isunknown``, which is
  about X), refuses, or, without parentheses, would read as an implicitly declared
  1-bit wire (as it read ``$time``).

:func:`implicit_nets` lists the nets pyslang declared implicitly: any other name Yosys
declares implicitly (see :func:`verilog_env.formal.yosys.synthesize`) is one it resolved
differently from the analysis.

These are found on pyslang's elaborated model of the design, like the rest of the
analysis (:mod:`verilog_env.hdl.design`).
"""

from __future__ import annotations

from pyslang import ast, parsing, syntax

from ..hdl.design import Design, _constant_int
from ..hdl.source import compile_sources

SK = syntax.SyntaxKind
EK = ast.ExpressionKind
_DELAYS = {SK.DelayControl, SK.Delay3, SK.CycleDelay, SK.OneStepDelay}
_SIGNAL_KINDS = {ast.SymbolKind.Variable, ast.SymbolKind.Net}
_SELECTS = (EK.ElementSelect, EK.RangeSelect)

FORMAL_SYSTEM_NAMES = frozenset(
    """
    $display $displayb $displayh $displayo $write $writeb $writeh $writeo
    $strobe $strobeb $strobeh $strobeo $monitor $monitorb $monitorh $monitoro $monitoron $monitoroff
    $signed $unsigned $clog2 $bits $countones $onehot $onehot0 $itor $rtoi
    $ln $log10 $exp $sqrt $pow $floor $ceil $sin $cos $tan $asin $acos $atan $atan2
    $hypot $sinh $cosh $tanh $asinh $acosh $atanh
    """.split()
)
"""System tasks and functions the formal model reads with the simulator's meaning (checked
against Yosys 0.23): console output (Yosys ignores it outside ``initial``; it changes no
value), ``$signed``/``$unsigned``, ``$bits`` (see :func:`semantic_blockers` for the
exception), ``$countones``/``$onehot``/``$onehot0`` (equal on 0/1 bits; on X bits the
model says X where the simulator counts, which can only cost a proof, never make one),
and ``$clog2``, ``$itor``/``$rtoi`` and real math, which Yosys evaluates on constants
exactly as the simulator does and refuses on anything else."""


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


Span = tuple[int, int] | None
"""Indices a read or a listed event covers in its signal's first dimension (None: all)."""


def _selected(expr) -> tuple[object, Span] | None:
    """(signal, indices) for a constant bit/part-select of a signal, else None."""
    if expr.kind not in _SELECTS or expr.value.kind != EK.NamedValue or expr.value.symbol.kind not in _SIGNAL_KINDS:
        return None
    if expr.kind == EK.ElementSelect:
        index = _constant_int(expr.selector)
        return None if index is None else (expr.value.symbol, (index, index))
    left, right = _constant_int(expr.left), _constant_int(expr.right)
    if left is None or right is None:
        return None
    kind = expr.selectionKind
    if kind == ast.RangeSelectionKind.IndexedUp:
        return expr.value.symbol, (left, left + right - 1)
    if kind == ast.RangeSelectionKind.IndexedDown:
        return expr.value.symbol, (left - right + 1, left)
    return expr.value.symbol, (min(left, right), max(left, right))


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
        if isinstance(node, parsing.Token):
            if node.kind == parsing.TokenKind.SystemIdentifier and node.valueText not in FORMAL_SYSTEM_NAMES:
                line = _line(design, node.location)
                problems.append(
                    f"the {role} uses {node.valueText} (line {line}), which Yosys does not model with the "
                    "simulator's meaning"
                )
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

    def collect(symbol):
        if isinstance(symbol, ast.CallExpression) and symbol.subroutineName == "$bits":
            arguments = list(symbol.arguments)
            if arguments and arguments[0].type.isUnpackedArray:
                problems.append(
                    f"the {role} takes $bits of an unpacked array (line {_line(design, symbol.sourceRange.start)}): "
                    "Yosys counts every element, Icarus Verilog one"
                )
        elif isinstance(symbol, ast.ContinuousAssignSymbol):
            assignment = symbol.assignment
            if assignment.kind == EK.Assignment:
                root = _root_symbol(assignment.left)
                if root is not None:
                    reads: set = set()

                    def visit_rhs(node):
                        if (
                            isinstance(node, ast.Expression)
                            and node.kind == EK.NamedValue
                            and node.symbol.kind in _SIGNAL_KINDS
                        ):
                            reads.add(node.symbol)
                        return ast.VisitAction.Advance

                    assignment.right.visit(visit_rhs)
                    drivers.setdefault(root, set()).update(reads)
        return ast.VisitAction.Advance

    tops[0].visit(collect)
    if problems:
        return problems[:1]

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
        reads: dict = {}  # signal -> spans read (None: the whole signal)
        written: set = set()

        def visit_body(node):
            if isinstance(node, ast.Expression):
                selected = _selected(node)
                if selected is not None:
                    reads.setdefault(selected[0], set()).add(selected[1])
                    return ast.VisitAction.Skip
                if node.kind == EK.NamedValue and node.symbol.kind in _SIGNAL_KINDS:
                    reads.setdefault(node.symbol, set()).add(None)
                elif node.kind == EK.Assignment:
                    root = _root_symbol(node.left)
                    if root is not None:
                        written.add(root)
                    elif node.left.kind == EK.Concatenation:
                        for operand in node.left.operands:
                            root = _root_symbol(operand)
                            if root is not None:
                                written.add(root)
            return ast.VisitAction.Advance

        body.stmt.visit(visit_body)
        for symbol in written:
            reads.pop(symbol, None)
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
        whole, parts = set(), {}
        for event in events:
            if event.kind != ast.TimingControlKind.SignalEvent:
                continue
            selected = _selected(event.expr)
            if selected is not None:
                parts.setdefault(selected[0], []).append(selected[1])
            elif event.expr.kind == EK.NamedValue:
                whole.add(event.expr.symbol)
        complete = covered(whole)

        def listed(symbol, span: Span) -> bool:
            if symbol in complete:
                return True
            return span is not None and any(lo <= span[0] and span[1] <= hi for lo, hi in parts.get(symbol, ()))

        missing = sorted(
            symbol.name + ("" if symbol not in parts else " (the list names only part of it)")
            for symbol, spans in reads.items()
            if not all(listed(symbol, span) for span in spans)
        )
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
    return problems[:1]


def implicit_nets(design: Design) -> frozenset[str]:
    """Names of the nets pyslang declared implicitly (``assign w = a;`` with ``w``
    undeclared, an undeclared name in a port connection), anywhere under the top."""
    compilation = compile_sources([design.source], top=design.top)
    names: set[str] = set()

    def visit(symbol):
        if isinstance(symbol, ast.NetSymbol) and symbol.isImplicit:
            names.add(symbol.name)
        return ast.VisitAction.Advance

    for instance in compilation.getRoot().topInstances:
        if instance.name == design.top:
            instance.visit(visit)
    return frozenset(names)
