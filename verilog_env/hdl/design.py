"""What a design looks like from outside: its top module, ports, clocks and resets.

All of it comes from pyslang's elaborated model, never from pattern-matching text:
widths are after parameter resolution, and clocks/resets are traced through submodule
port connections back to the top-level inputs that drive them.
"""

from __future__ import annotations

import dataclasses
import re

from pyslang import Diags, ast, syntax

from .policy import find_violations
from .source import (
    DEFAULT_TIMESCALE,
    MAX_SOURCE_BYTES,
    ParsedSource,
    compile_sources,
    format_diagnostics,
    parse,
    timescale_of,
)

SK = syntax.SyntaxKind
_OUT_OF_RANGE = (Diags.IndexOOB, Diags.RangeOOB, Diags.RangeWidthOOB)
"""pyslang's warnings for a constant select outside its vector (X in a 4-state simulator)."""
MAX_PORT_WIDTH = 4096

_RESET_NAME = re.compile(r"rst|reset|clr|clear", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")


class DesignError(Exception):
    """A design cannot be checked. ``status`` is a :class:`~verilog_env.Status` value."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" | "output"
    width: int
    signed: bool = False

    def describe(self) -> str:
        bits = f"[{self.width - 1}:0]" if self.width > 1 else "1 bit"
        return f"{self.direction} {'signed ' if self.signed else ''}{bits}"


@dataclasses.dataclass(frozen=True)
class Reset:
    name: str
    active_high: bool
    asynchronous: bool


@dataclasses.dataclass
class Design:
    """An analysed design; ``modules`` are all module names it defines."""

    top: str
    ports: list[Port]
    parameters: dict[str, str]
    clocks: list[str]
    resets: list[Reset]
    modules: list[str]
    source: ParsedSource
    timescale: str = DEFAULT_TIMESCALE
    """The ``timescale`` directive the simulator must be given with the design's text."""
    constants: tuple[int, ...] = ()
    """Distinct non-negative integer literals of the design (a stimulus dictionary)."""
    self_contained: bool = True
    """Every item of the text is a module: nothing lands in the compilation-unit scope
    (``typedef``, ``function``, ``parameter``, ``package``, ... outside a module), which a
    simulator shares between all the files of a run."""
    xz_lines: tuple[int, ...] = ()
    """Lines where a 4-state simulator can compute X or Z but a 2-state one (Verilator)
    computes a number: a select that is or can be outside its vector (a constant index
    pyslang warns about; a variable index whose type reaches past the range), a division or
    modulo by a variable, a Z literal. (``'x`` literals and power-on values are not listed:
    Verilator's runs fill them several ways.) A Verilator-only verdict that passes such a
    design is confirmed by Icarus (:func:`verilog_env.checking.check_requests`)."""

    @property
    def inputs(self) -> list[Port]:
        return [p for p in self.ports if p.direction == "input"]

    @property
    def outputs(self) -> list[Port]:
        return [p for p in self.ports if p.direction == "output"]

    def port(self, name: str) -> Port | None:
        return next((p for p in self.ports if p.name == name), None)


def analyze(
    text: str,
    *,
    name: str,
    role: str,
    top: str | None = None,
    preferred_top: str | None = None,
) -> Design:
    """Parse, police and elaborate ``text``; raise :class:`DesignError` if it cannot run.

    ``role`` is ``"golden"`` or ``"candidate"`` and only changes how problems are
    reported (a golden breaking the policy is *unsupported*; a candidate is *rejected*).
    ``top`` names the top module exactly; otherwise ``preferred_top`` is used when the
    text defines it, else the text's only uninstantiated module.
    """
    candidate = role == "candidate"
    if not isinstance(text, str):
        raise DesignError("internal_error", f"{role} source must be str, got {type(text).__name__}")
    if not text.strip():
        raise DesignError("compile_error", f"{role} source is empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise DesignError(
            "rejected" if candidate else "unsupported",
            f"{role} source is larger than {MAX_SOURCE_BYTES // 1024} KiB",
        )
    if "\x00" in text:
        raise DesignError("compile_error", f"{role} source contains NUL bytes (binary data, not Verilog)")

    try:
        source = parse(text, name)
    except ValueError as error:
        raise DesignError("compile_error", f"{role} source cannot be parsed: {error}") from None
    parse_errors = [d for d in source.tree.diagnostics if d.isError()]
    violations = find_violations(source)
    if violations:
        lines = "; ".join(str(v) for v in violations[:5])
        raise DesignError(
            "rejected" if candidate else "unsupported",
            f"{role} breaks the candidate policy: {lines}",
        )
    if parse_errors:
        raise DesignError("compile_error", format_diagnostics(parse_errors, source.source_manager))
    try:
        timescale = timescale_of(source)
    except ValueError as error:  # the simulator could not be given one timescale
        raise DesignError("unsupported", f"{role} has {error}") from None

    modules, scoped_names = declared_modules_and_dotted_names(source)
    if not modules:
        raise DesignError("compile_error", f"{role} source defines no module")

    compilation = compile_sources([source])
    tops = {inst.name: inst for inst in compilation.getRoot().topInstances}
    chosen = top or (preferred_top if preferred_top in modules else None)
    if chosen is None:
        if len(tops) != 1:
            listing = ", ".join(sorted(tops)) or "none"
            raise DesignError(
                "rejected" if candidate else "unsupported",
                f"cannot tell which module is the top of the {role}: uninstantiated modules "
                f"are {listing}" + (f"; name it {preferred_top}" if preferred_top else ""),
            )
        chosen = next(iter(tops))
    if chosen not in modules:
        raise DesignError(
            "rejected" if candidate else "unsupported",
            f"{role} defines no module named {chosen} (it defines {', '.join(modules)})",
        )
    if chosen not in tops or len(tops) > 1:
        # Elaborate the chosen top alone: hierarchical references into the other
        # uninstantiated modules (say, a decoy named like the testbench) must not resolve.
        compilation = compile_sources([source], top=chosen)
        tops = {inst.name: inst for inst in compilation.getRoot().topInstances}

    diagnostics = compilation.getAllDiagnostics()
    errors = [d for d in diagnostics if d.isError()]
    if errors:
        escape = _hierarchical_escape(errors, scoped_names)
        if escape is not None and candidate:
            raise DesignError(
                "rejected", f"hierarchical reference {escape} reaches outside the design"
            )
        raise DesignError("compile_error", format_diagnostics(errors, source.source_manager))
    if candidate:
        escape = outward_reference(tops[chosen])
        if escape is not None:
            raise DesignError(
                "rejected",
                f"hierarchical reference {escape} reaches outside the module that uses it (only "
                "downward references into scopes declared inside a module are allowed)",
            )

    instance = tops[chosen]
    ports = _ports(instance, role)
    clocks, resets, constants, xz = _survey(instance, [p.name for p in ports if p.direction == "input"])
    xz |= {d.location for d in diagnostics if d.code in _OUT_OF_RANGE}
    parameters = {
        p.name: str(getattr(p, "value", "")) for p in instance.body.parameters
    }
    return Design(
        top=chosen,
        ports=ports,
        parameters=parameters,
        clocks=clocks,
        resets=resets,
        modules=modules,
        source=source,
        timescale=timescale,
        constants=constants,
        self_contained=_modules_alone(source),
        xz_lines=tuple(sorted({source.source_manager.getLineNumber(where) for where in xz})),
    )


def _modules_alone(source: ParsedSource) -> bool:
    """Is every item of the text a module? (pyslang's root is the item itself when the
    text holds one, else a compilation unit of items.)"""
    root = source.tree.root
    if root.kind == SK.CompilationUnit:
        return all(member.kind == SK.ModuleDeclaration for member in root.members)
    return root.kind == SK.ModuleDeclaration


def declared_modules_and_dotted_names(source: ParsedSource) -> tuple[list[str], dict[int, str]]:
    """Module names declared in the text, and dotted names by their start offset."""
    modules: list[str] = []
    dotted: dict[int, str] = {}

    def visit(node):
        kind = getattr(node, "kind", None)
        if kind == SK.ModuleDeclaration:
            modules.append(node.header.name.valueText)
        elif kind == SK.ScopedName and node.separator.valueText == ".":
            first = node.getFirstToken()
            dotted.setdefault(first.location.offset, str(node).strip())

    source.tree.root.visit(visit)
    return modules, dotted


def _hierarchical_escape(errors, dotted: dict[int, str]) -> str | None:
    for diag in errors:
        name = dotted.get(diag.location.offset)
        if name is not None:
            return name
    return None


_BRACKETS = re.compile(r"\[[^\]]*\]")


def _components(path: str) -> list[str]:
    """``"top.g[0].u.x"`` -> ``["top", "g", "u", "x"]``."""
    return _BRACKETS.sub("", path).split(".")


def outward_reference(top) -> str | None:
    """The first name in the elaborated design ``top`` that does not point down into it.

    A dotted name (value, call, ``defparam``, ``disable``, event trigger) is allowed only
    when it resolves inside the instance whose module contains it *and* its first
    component names a scope on the way down there (an instance, generate block or named
    block declared in that module). Everything else is an upward (or self-by-module-name)
    reference, refused: pyslang resolves it among the candidate's own modules, but in
    the simulator, where modules are renamed and the candidate sits inside a testbench,
    the same name can bind to something else (the upward search walks past the
    candidate's top). Simple-name calls must resolve inside the calling instance or in a
    package (tasks and functions are also searched upward by name). Returns the name's
    text, or ``None`` when every reference points down.
    """
    found: list[str] = []
    root = top.hierarchicalPath

    def judge(syntax_node, target, instance: str) -> None:
        if target is None or found:
            return
        path = target.hierarchicalPath
        if not path or not (path == root or path.startswith(root + ".")):
            return  # a package or compilation-unit item: not in any instance
        text = " ".join(str(syntax_node).split()) if syntax_node is not None else path
        inside = path.startswith(instance + ".")
        if not inside:
            found.append(text)
            return
        if syntax_node is None or "." not in text.split("(", 1)[0]:
            return  # a simple name found inside the instance
        head = syntax_node.getFirstToken().valueText
        if head not in _components(path[len(instance) + 1 :])[:-1]:
            found.append(text)

    def check_instance(instance) -> None:
        here = instance.hierarchicalPath

        def visit(node):
            if found:
                return ast.VisitAction.Skip
            if isinstance(node, ast.InstanceSymbol) and node is not instance:
                check_instance(node)
                return ast.VisitAction.Skip
            if isinstance(node, ast.DefParamSymbol):
                judge(node.syntax, node.target, here)
            elif isinstance(node, ast.Expression):
                kind = node.kind
                if kind in (ast.ExpressionKind.HierarchicalValue, ast.ExpressionKind.ArbitrarySymbol):
                    judge(node.syntax, node.symbol, here)
                elif kind == ast.ExpressionKind.Call and not node.isSystemCall:
                    judge(node.syntax, node.subroutine, here)
            elif isinstance(node, ast.Statement) and node.kind == ast.StatementKind.Disable:
                judge(node.target.syntax, getattr(node.target, "symbol", None), here)  # not visited below
            return ast.VisitAction.Advance

        instance.visit(visit)

    check_instance(top)
    return found[0] if found else None


def _ports(instance, role: str) -> list[Port]:
    # A golden with such ports cannot be checked; a candidate with them cannot match a
    # golden that could be checked, so for it they are interface mismatches.
    def fail(problem: str) -> DesignError:
        if role == "candidate":
            return DesignError("mismatch", f"interface differs from the reference: {problem}")
        return DesignError("unsupported", f"{role} {problem}")

    ports: list[Port] = []
    for port in instance.body.portList:
        if not isinstance(port, ast.PortSymbol):
            raise fail(f"port {port.name} is an interface or multi-port")
        if not _IDENTIFIER.match(port.name):
            raise fail(f"port name {port.name!r} is not a plain identifier")
        direction = port.direction.name
        if direction not in ("In", "Out"):
            raise fail(
                f"port {port.name} is {direction.lower()}; only input and output ports can be driven and compared"
            )
        port_type = port.type
        if not port_type.isIntegral:
            raise fail(f"port {port.name} has type {port_type}, not a bit vector")
        width = port_type.bitWidth
        if width < 1 or width > MAX_PORT_WIDTH:
            raise fail(f"port {port.name} is {width} bits wide (at most {MAX_PORT_WIDTH} supported)")
        ports.append(
            Port(port.name, "input" if direction == "In" else "output", width, bool(port_type.isSigned))
        )
    if not any(p.direction == "output" for p in ports):
        raise fail("top module has no output ports to compare")
    return ports


class _Aliases:
    """Union-find over hierarchical signal paths joined by port connections."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _referenced_path(expr) -> str | None:
    if expr is None:
        return None
    while expr.kind == ast.ExpressionKind.Conversion:
        expr = expr.operand
    if expr.kind == ast.ExpressionKind.NamedValue:
        return expr.symbol.hierarchicalPath
    return None


def _constant_int(expr) -> int | None:
    """The integer value of a constant expression, or None (not constant, or has X/Z)."""
    constant = getattr(expr, "constant", None)
    if constant is None:
        return None
    text = str(constant).replace("_", "")
    if "'" not in text:
        return int(text) if text.lstrip("-").isdigit() else None
    spec = text.split("'", 1)[1].lstrip("sS")
    base = {"d": 10, "h": 16, "b": 2, "o": 8}.get(spec[:1].lower())
    try:
        return int(spec[1:], base) if base else None
    except ValueError:  # x/z digits
        return None


def _constant_truth(expr) -> bool | None:
    value = _constant_int(expr)
    return None if value is None else value != 0


def _reset_terms(cond) -> list[tuple[str, bool]]:
    """Signals a reset-style condition tests, each with the level that makes it true."""
    kind = cond.kind
    if kind == ast.ExpressionKind.Conversion:
        return _reset_terms(cond.operand)
    path = _referenced_path(cond)
    if path is not None:
        return [(path, True)]
    if kind == ast.ExpressionKind.UnaryOp and cond.op.name in ("LogicalNot", "BitwiseNot"):
        inner = _referenced_path(cond.operand)
        return [(inner, False)] if inner else []
    if kind == ast.ExpressionKind.BinaryOp:
        op = cond.op.name
        if op in ("LogicalOr", "BinaryOr"):
            return _reset_terms(cond.left) + _reset_terms(cond.right)
        if op in ("Equality", "CaseEquality", "Inequality", "CaseInequality"):
            for signal, constant in ((cond.left, cond.right), (cond.right, cond.left)):
                path, truth = _referenced_path(signal), _constant_truth(constant)
                if path is not None and truth is not None:
                    return [(path, truth if "Inequality" not in op else not truth)]
    return []


def _first_statement(stmt):
    while True:
        if stmt.kind == ast.StatementKind.Block:
            stmt = stmt.body
        elif stmt.kind == ast.StatementKind.List:
            items = list(stmt.list)
            if not items:
                return stmt
            stmt = items[0]
        else:
            return stmt


MAX_CONSTANTS = 64


def _survey(instance, input_names: list[str]) -> tuple[list[str], list[Reset], tuple[int, ...], set]:
    """Clocks and resets (in port order) traced to the top's inputs, the literals used, and
    where X or Z can arise that a 2-state simulator does not see (:attr:`Design.xz_lines`;
    source locations), in one walk of the elaborated design."""
    aliases = _Aliases()
    constants: dict[int, None] = {}
    xz: set = set()
    top_path = {f"{instance.name}.{n}": n for n in input_names}
    clock_uses: set[str] = set()
    reset_uses: dict[str, tuple[bool, bool]] = {}  # path -> (active_high, asynchronous)

    def visit(symbol):
        if isinstance(symbol, ast.InstanceSymbol):
            for connection in symbol.portConnections:
                inner = getattr(connection.port, "internalSymbol", None)
                outer = _referenced_path(connection.expression)
                if inner is not None and outer is not None:
                    aliases.union(inner.hierarchicalPath, outer)
        elif isinstance(symbol, ast.ProceduralBlockSymbol):
            _classify_block(symbol.body, clock_uses, reset_uses)
        elif isinstance(symbol, ast.Expression):
            if symbol.kind == ast.ExpressionKind.IntegerLiteral:
                value = _constant_int(symbol)
                if value is not None and 1 < value < 1 << 64 and len(constants) < MAX_CONSTANTS:
                    constants[value] = None
                if symbol.value.countZs():
                    xz.add(symbol.sourceRange.start)
            elif _may_be_xz(symbol):
                xz.add(symbol.sourceRange.start)
        return ast.VisitAction.Advance

    instance.visit(visit)

    def port_of(path: str) -> str | None:
        root = aliases.find(path)
        for candidate_path, port_name in top_path.items():
            if aliases.find(candidate_path) == root:
                return port_name
        return None

    clock_ports = {port_of(path) for path in clock_uses} - {None}
    clocks = [name for name in input_names if name in clock_ports]
    resets: dict[str, Reset] = {}
    for path, (active_high, asynchronous) in sorted(reset_uses.items(), key=lambda kv: not kv[1][1]):
        port_name = port_of(path)
        if port_name and port_name not in clock_ports and port_name not in resets:
            if asynchronous or _RESET_NAME.search(port_name):
                resets[port_name] = Reset(port_name, active_high, asynchronous)
    ordered = [resets[name] for name in input_names if name in resets]
    return clocks, ordered, tuple(constants), xz


def _may_be_xz(expr) -> bool:
    """Can ``expr`` be X in a 4-state simulator for a defined operand: a select whose
    variable index can leave the vector's range, a division or modulo by a variable?"""
    kind = expr.kind
    if kind == ast.ExpressionKind.BinaryOp:
        return expr.op in (ast.BinaryOperator.Divide, ast.BinaryOperator.Mod) and expr.right.constant is None
    if kind == ast.ExpressionKind.ElementSelect:
        index, span = expr.selector, 1
    elif kind == ast.ExpressionKind.RangeSelect and expr.selectionKind != ast.RangeSelectionKind.Simple:
        index, span = expr.left, _constant_int(expr.right) or 1
    else:
        return False
    if index.constant is not None:  # pyslang warns about a constant one (_OUT_OF_RANGE)
        return False
    while index.kind == ast.ExpressionKind.Conversion:
        index = index.operand
    bounds = getattr(expr.value.type, "fixedRange", None)
    if bounds is None:
        return True
    bits = min(index.type.bitWidth, 64)
    return index.type.isSigned or bounds.lower > 0 or bounds.upper < (1 << bits) - 1 + (span - 1)


def _classify_block(body, clock_uses: set[str], reset_uses: dict[str, tuple[bool, bool]]) -> None:
    if body.kind != ast.StatementKind.Timed:
        return
    timing = body.timing
    if timing.kind == ast.TimingControlKind.SignalEvent:
        events = [timing]
    elif timing.kind == ast.TimingControlKind.EventList:
        events = [e for e in timing.events if e.kind == ast.TimingControlKind.SignalEvent]
    else:
        return
    edges: dict[str, bool] = {}  # path -> is posedge
    for event in events:
        path = _referenced_path(event.expr)
        if path is not None and event.edge.name in ("PosEdge", "NegEdge", "BothEdges"):
            edges[path] = event.edge.name != "NegEdge"
    if not edges:
        return
    first = _first_statement(body.stmt)
    terms: list[tuple[str, bool]] = []
    if first.kind == ast.StatementKind.Conditional:
        conditions = list(first.conditions)
        if conditions:
            terms = _reset_terms(conditions[0].expr)
    asynchronous = {path: level for path, level in terms if path in edges}
    if len(edges) > 1 and not asynchronous:
        # No leading `if` on an edge signal: fall back to names, polarity from the edge.
        asynchronous = {
            path: edges[path] for path in edges if _RESET_NAME.search(path.rsplit(".", 1)[-1])
        }
    for path, level in asynchronous.items():
        reset_uses.setdefault(path, (level, True))
    for path in edges:
        if path not in asynchronous:
            clock_uses.add(path)
    for path, level in terms:
        if path not in edges:
            reset_uses.setdefault(path, (level, False))
    # A synchronous reset need not lead the block (`q <= d; if (reset) q <= 0;`):
    # any `if` in a clocked block that tests a reset-named signal counts.
    def visit(node):
        if isinstance(node, ast.ConditionalStatement):
            for condition in node.conditions:
                for path, level in _reset_terms(condition.expr):
                    if path not in edges and _RESET_NAME.search(path.rsplit(".", 1)[-1]):
                        reset_uses.setdefault(path, (level, False))
        return ast.VisitAction.Advance

    body.stmt.visit(visit)
