"""Equivalence-preserving rewrites of Verilog sources, for testing the equivalence checker.

Each rewrite is ``fn(source, top) -> str | None``: it returns a rewritten design that must
behave exactly like ``source`` (whose top module is named ``top``), or ``None`` when the
rewrite does not apply to this source (nothing to rewrite, or a construct it does not
handle). Everything is found with pyslang syntax trees and changed by splicing text at
token offsets; nothing parses Verilog with regular expressions.

Rewrites whose result could differ from the source in a way the language does not
guarantee check themselves with pyslang (the result must elaborate without errors and,
where ports are touched, keep the top's port list) and decline (return ``None``) when not.

This is a test utility, not a test module.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Callable

import pyslang
from pyslang import analysis, ast, parsing, syntax

SK = syntax.SyntaxKind
TK = parsing.TokenKind

__all__ = [
    "ALL_REWRITES",
    "always_style",
    "rename_internals",
    "reorder_ports",
    "toggle_port_style",
    "wrap_in_helper",
]


# --------------------------------------------------------------------------- helpers


class _Decline(Exception):
    """The rewrite does not apply (the public functions turn this into ``None``)."""


last_decline: dict[str, str] = {}
"""Why each rewrite last returned ``None`` (rewrite name -> reason), for debugging."""


def _declines(fn: Callable[[str, str], str]) -> Callable[[str, str], str | None]:
    @functools.wraps(fn)
    def wrapper(source: str, top: str) -> str | None:
        try:
            return fn(source, top)
        except _Decline as why:
            last_decline[fn.__name__] = str(why)
            return None

    return wrapper


class _Source:
    """A parsed source: syntax tree, byte offsets and edits at those offsets."""

    def __init__(self, text: str):
        self.text = text
        self.data = text.encode()
        self.tree = syntax.SyntaxTree.fromText(text, "rewrite.v")
        if any(d.isError() for d in self.tree.diagnostics):
            raise _Decline("source does not parse cleanly")
        self.manager = self.tree.sourceManager
        self.buffer = self.tree.root.getFirstToken().location.buffer
        self.edits: list[tuple[int, int, str]] = []

    # -- locations
    def in_text(self, token) -> bool:
        """Whether ``token`` was written in the text itself (not produced by a macro)."""
        loc = token.location
        return loc.buffer == self.buffer and not self.manager.isMacroLoc(loc)

    def tokens(self, node) -> list:
        """Non-empty tokens of ``node`` (a node, token, list of them or None), in order."""
        if node is None:
            return []
        if isinstance(node, (list, tuple)):
            return [t for item in node for t in self.tokens(item)]
        if isinstance(node, parsing.Token):
            return [node] if node.rawText else []
        out: list = []
        node.visit(lambda x: out.append(x) if isinstance(x, parsing.Token) and x.rawText else None)
        return out

    def span(self, node) -> tuple[int, int]:
        """Byte span of ``node`` without leading trivia; declines on macro-made text."""
        tokens = self.tokens(node)
        if not tokens:
            raise _Decline("empty node")
        if not all(self.in_text(t) for t in tokens):
            raise _Decline("text comes from a macro")
        first, last = tokens[0], tokens[-1]
        return first.location.offset, last.location.offset + len(last.rawText.encode())

    def text_of(self, node_or_span) -> str:
        start, end = node_or_span if isinstance(node_or_span, tuple) else self.span(node_or_span)
        return self.data[start:end].decode()

    def has_directives(self, node) -> bool:
        """Whether a compiler directive (`ifdef ...) sits inside ``node``."""
        tokens = self.tokens(node)
        return any(
            trivia.kind == parsing.TriviaKind.Directive for t in tokens[1:] for trivia in t.trivia
        )

    # -- edits
    def replace(self, start: int, end: int, new: str) -> None:
        self.edits.append((start, end, new))

    def replace_token(self, token, new: str) -> None:
        if not self.in_text(token):
            raise _Decline("token comes from a macro")
        start = token.location.offset
        self.replace(start, start + len(token.rawText.encode()), new)

    def result(self) -> str:
        data = self.data
        last_start = len(data) + 1
        for start, end, new in sorted(set(self.edits), key=lambda e: (e[0], e[1]), reverse=True):
            if end > last_start:
                raise AssertionError(f"overlapping edits at byte {start}")
            data = data[:start] + new.encode() + data[end:]
            last_start = start
        return data.decode()

    # -- structure
    def nodes(self, *kinds) -> list:
        found: list = []

        def visit(node):
            if not isinstance(node, parsing.Token) and node.kind in kinds:
                found.append(node)

        self.tree.root.visit(visit)
        return found

    def modules(self) -> dict[str, object]:
        return {m.header.name.valueText: m for m in self.nodes(SK.ModuleDeclaration)}

    def module(self, name: str):
        module = self.modules().get(name)
        if module is None:
            raise _Decline(f"no module named {name}")
        return module


def _present(token) -> bool:
    """Whether an optional token was written (absent ones are falsy or empty)."""
    return bool(token) and bool(token.rawText)


def _items(separated_list) -> list:
    """The elements of a separated syntax list, without the separators."""
    return [x for x in separated_list if not isinstance(x, parsing.Token)]


def _elaborate(text: str, top: str):
    """(compilation, tree, top instance) when ``text`` elaborates cleanly with ``top``."""
    tree = syntax.SyntaxTree.fromText(text, "check.v")
    if any(d.isError() for d in tree.diagnostics):
        return None
    options = ast.CompilationOptions()
    options.topModules = {top}
    compilation = ast.Compilation(pyslang.Bag([options]))
    compilation.addSyntaxTree(tree)
    if any(d.isError() for d in compilation.getAllDiagnostics()):
        return None
    instances = [i for i in compilation.getRoot().topInstances if i.name == top]
    if len(instances) != 1:
        return None
    return compilation, tree, instances[0]


def _port_signature(text: str, top: str, *, detail: int = 2) -> list[tuple] | None:
    """The top's ports in order as comparable tuples, or ``None`` if it does not elaborate.

    ``detail`` 0: name, direction, width, signedness; 1: also 2- or 4-state; 2: also the
    type as pyslang prints it and whether the port is a net or a variable.
    """
    elaborated = _elaborate(text, top)
    if elaborated is None:
        return None
    _, _, instance = elaborated
    signature = []
    for port in instance.body.portList:
        if not isinstance(port, ast.PortSymbol):
            return None
        t = port.type
        row: tuple = (port.name, port.direction.name, t.bitWidth, bool(t.isSigned))
        if detail >= 1:
            row += (bool(t.isFourState),)
        if detail >= 2:
            internal = port.internalSymbol
            row += (str(t), internal.kind.name if internal is not None else None)
        signature.append(row)
    return signature


@dataclasses.dataclass
class _Port:
    """One port of a module as declared, with everything inherited made explicit."""

    name: str
    direction: str  # "input" | "output" | "inout" | ...
    header: str  # full declaration text before the name, e.g. "output reg [W-1:0]"
    declarator: str  # the name with any unpacked dimensions / initializer
    data_type: object  # the syntax node of the declared data type (None if unknown)


def _direction_of(header) -> str:
    token = getattr(header, "direction", None)
    return token.valueText if token else ""


def _ansi_ports(src: _Source, module) -> list[_Port]:
    """The module's ANSI ports with inherited direction/type made explicit."""
    ports_node = module.header.ports
    if ports_node is None or ports_node.kind != SK.AnsiPortList:
        raise _Decline("not an ANSI port list")
    if src.has_directives(ports_node):
        raise _Decline("compiler directives inside the port list")
    ports: list[_Port] = []
    previous: _Port | None = None
    for node in _items(ports_node.ports):
        if node.kind != SK.ImplicitAnsiPort or node.header.kind not in (SK.VariablePortHeader, SK.NetPortHeader):
            raise _Decline(f"unsupported port {node.kind}")
        header = node.header
        declarator = src.text_of(node.declarator)
        name = node.declarator.name.valueText
        if node.declarator.initializer is not None:
            raise _Decline("port with a default value")
        own = src.tokens(header)
        direction = _direction_of(header)
        if direction:
            port = _Port(name, direction, src.text_of(header), declarator, header.dataType)
        elif previous is None:
            raise _Decline("first port has no direction")
        elif not own:  # everything inherited from the previous port
            port = _Port(name, previous.direction, previous.header, declarator, previous.data_type)
        else:  # only the direction is inherited
            port = _Port(
                name, previous.direction, f"{previous.direction} {src.text_of(header)}", declarator, header.dataType
            )
        ports.append(port)
        previous = port
    return ports


def _declaration_type_text(src: _Source, decl) -> str:
    """``reg [3:0]`` of ``reg [3:0] q;`` / ``wire signed [7:0]`` of ``wire signed [7:0] x;``."""
    if decl.kind == SK.DataDeclaration:
        tokens = src.tokens(decl.modifiers) + src.tokens(decl.type)
    else:  # NetDeclaration
        if src.tokens(decl.strength) or src.tokens(decl.delay) or decl.expansionHint:
            raise _Decline("net declaration with strength or delay")
        tokens = [decl.netType] + src.tokens(decl.type)
    if not tokens:
        raise _Decline("declaration without a type")
    start = tokens[0].location.offset
    end = tokens[-1].location.offset + len(tokens[-1].rawText.encode())
    return src.text_of((start, end))


@dataclasses.dataclass
class _NonAnsiModule:
    ports: list[_Port]
    port_declarations: list  # PortDeclaration members
    merged: dict  # id(data/net declaration member) -> (member, set of port names it declares)


def _non_ansi_ports(src: _Source, module) -> _NonAnsiModule:
    """The module's non-ANSI ports, each with its direction and (merged) type declaration."""
    ports_node = module.header.ports
    if ports_node is None or ports_node.kind != SK.NonAnsiPortList:
        raise _Decline("not a non-ANSI port list")
    if src.has_directives(ports_node):
        raise _Decline("compiler directives inside the port list")
    names: list[str] = []
    for node in _items(ports_node.ports):
        expr = getattr(node, "expr", None)
        if node.kind != SK.ImplicitNonAnsiPort or expr is None or expr.kind != SK.PortReference or expr.select is not None:
            raise _Decline("port list entry is not a plain name")
        names.append(expr.name.valueText)
    if len(set(names)) != len(names):
        raise _Decline("a port is listed twice")

    port_decls: dict[str, tuple] = {}
    port_members = []
    type_decls: dict[str, tuple] = {}
    for member in module.members:
        if member.kind == SK.PortDeclaration:
            if member.header.kind not in (SK.VariablePortHeader, SK.NetPortHeader):
                raise _Decline("unsupported port declaration")
            port_members.append(member)
            for declarator in _items(member.declarators):
                port_decls[declarator.name.valueText] = (member, declarator)
        elif member.kind in (SK.DataDeclaration, SK.NetDeclaration):
            for declarator in _items(member.declarators):
                if declarator.name.valueText in names:
                    type_decls[declarator.name.valueText] = (member, declarator)
    if set(port_decls) != set(names):
        raise _Decline("port declarations do not match the port list")

    ports: list[_Port] = []
    merged: dict = {}
    for name in names:
        member, declarator = port_decls[name]
        header = member.header
        direction = _direction_of(header)
        if name in type_decls:
            type_member, type_declarator = type_decls[name]
            if src.tokens(header.dataType) and header.dataType.kind != SK.ImplicitType:
                raise _Decline("port declared with a type twice")
            if header.kind == SK.NetPortHeader or getattr(header, "varKeyword", None):
                raise _Decline("port kind declared twice")
            if _present(getattr(header.dataType, "signing", None)) and not _present(
                getattr(type_member.type, "signing", None)
            ):
                raise _Decline("signedness only on the port declaration")
            text = f"{direction} {_declaration_type_text(src, type_member)}"
            ports.append(_Port(name, direction, text, src.text_of(type_declarator), type_member.type))
            merged.setdefault(id(type_member), (type_member, set()))[1].add(name)
        else:
            ports.append(_Port(name, direction, src.text_of(header), src.text_of(declarator), header.dataType))
    return _NonAnsiModule(ports, port_members, merged)


def _remove_member(src: _Source, member) -> None:
    start, end = src.span(member)
    src.replace(start, end, "")


def _remove_declarators(src: _Source, member, names: set[str]) -> None:
    """Remove the declarators named ``names`` from a data/net declaration member."""
    declarators = _items(member.declarators)
    kept = [d for d in declarators if d.name.valueText not in names]
    if not kept:
        _remove_member(src, member)
        return
    start = src.span(declarators[0])[0]
    end = src.span(declarators[-1])[1]
    src.replace(start, end, ", ".join(src.text_of(d) for d in kept))


# --------------------------------------------------------------------------- rewrites


@_declines
def rename_internals(source: str, top: str) -> str:
    """Rename every identifier declared inside the modules that is not a port or module name.

    Names are changed consistently everywhere by appending a suffix that collides with no
    identifier in the text, so scoping and shadowing are unchanged. Excluded: port names of
    any module, module names, parameters overridden from an instantiation, and any name
    that appears in macro-expanded text. Declines on hierarchical/member (dotted) names and
    ``defparam``.
    """
    src = _Source(source)
    src.module(top)
    if src.nodes(SK.DefParamAssignment, SK.DefParam):
        raise _Decline("defparam")
    for scoped in src.nodes(SK.ScopedName):
        if scoped.separator.valueText == ".":
            raise _Decline("hierarchical or member reference")

    declared: set[str] = set()
    ports: set[str] = set()
    modules: set[str] = set()
    overridden: set[str] = set()
    from_macros: set[str] = set()
    identifiers: list = []
    module_params: dict[str, list[str]] = {}

    def add_name(token) -> None:
        if token and token.kind == TK.Identifier:
            declared.add(token.valueText)

    for module in src.nodes(SK.ModuleDeclaration):
        modules.add(module.header.name.valueText)
        params: list[str] = []
        parameter_list = module.header.parameters
        if parameter_list is not None:
            for decl in _items(parameter_list.declarations):
                params += [d.name.valueText for d in _items(decl.declarators)]
        if not params:
            for member in module.members:
                if member.kind == SK.ParameterDeclarationStatement and member.parameter.keyword.valueText == "parameter":
                    params += [d.name.valueText for d in _items(member.parameter.declarators)]
        module_params[module.header.name.valueText] = params
        ports_node = module.header.ports
        if ports_node is not None:
            for port in _items(getattr(ports_node, "ports", [])):
                if port.kind == SK.ImplicitAnsiPort:
                    ports.add(port.declarator.name.valueText)
                elif port.kind in (SK.ExplicitAnsiPort, SK.ExplicitNonAnsiPort):
                    ports.add(port.name.valueText)
                elif port.kind == SK.ImplicitNonAnsiPort:
                    for token in src.tokens(port):
                        if token.kind == TK.Identifier:
                            ports.add(token.valueText)

    def visit(node):
        if isinstance(node, parsing.Token):
            if node.kind == TK.Identifier:
                if src.in_text(node):
                    identifiers.append(node)
                else:
                    from_macros.add(node.valueText)
            return
        kind = node.kind
        if kind == SK.Declarator:
            parent = node.parent
            if parent is not None and parent.kind == SK.StructUnionMember:
                return  # a struct field, not a name in the module's scope
            if parent is not None and parent.kind == SK.PortDeclaration:
                ports.add(node.name.valueText)
            else:
                add_name(node.name)
        elif kind == SK.GenvarDeclaration:
            for ident in _items(node.identifiers):
                add_name(ident.identifier)
        elif kind in (SK.NamedBlockClause, SK.NamedLabel, SK.TypedefDeclaration, SK.TypeAssignment):
            add_name(node.name)
        elif kind == SK.InstanceName:
            add_name(node.name)
        elif kind == SK.LoopGenerate and node.genvar:
            add_name(node.identifier)
        elif kind in (SK.FunctionDeclaration, SK.TaskDeclaration):
            name = node.prototype.name
            if name.kind == SK.IdentifierName:
                add_name(name.identifier)
            else:
                raise _Decline("out-of-block method declaration")
        elif kind == SK.NamedPortConnection:
            ports.add(node.name.valueText)  # a port of the instantiated module
        elif kind == SK.HierarchyInstantiation:
            modules.add(node.type.valueText)
            target = module_params.get(node.type.valueText, [])
            assignment = node.parameters
            if assignment is not None:
                for param in _items(assignment.parameters):
                    if param.kind == SK.NamedParamAssignment:
                        overridden.add(param.name.valueText)
                    else:  # positional: may override any of the target's parameters
                        overridden.update(target)
        elif kind == SK.ForeachLoopList:
            raise _Decline("foreach loop variables")

    src.tree.root.visit(visit)
    renamed = declared - ports - modules - overridden - from_macros
    if not renamed:
        raise _Decline("no internal names to rename")

    all_names = {t.valueText for t in identifiers} | from_macros | modules
    suffix = "_r"
    n = 1
    while any(name + suffix in all_names for name in renamed):
        n += 1
        suffix = f"_r{n}"
    for token in identifiers:
        if token.valueText in renamed:
            src.replace_token(token, token.rawText + suffix)
    return src.result()


@_declines
def reorder_ports(source: str, top: str) -> str:
    """Reverse the order of the top module's port declarations.

    ANSI: a declaration with an explicit direction and the direction-less ports after it
    (``input [3:0] a, b``) move as one group, so nothing they inherit changes. Non-ANSI:
    the names in the header are reversed.
    """
    src = _Source(source)
    module = src.module(top)
    ports_node = module.header.ports
    if ports_node is None or ports_node.kind not in (SK.AnsiPortList, SK.NonAnsiPortList):
        raise _Decline("no port list")
    if src.has_directives(ports_node):
        raise _Decline("compiler directives inside the port list")
    groups: list[list] = []
    for port in _items(ports_node.ports):
        if ports_node.kind == SK.NonAnsiPortList:
            if port.kind not in (SK.ImplicitNonAnsiPort, SK.ExplicitNonAnsiPort):
                raise _Decline(f"unsupported port {port.kind}")
            groups.append([port])
        else:
            if port.kind not in (SK.ImplicitAnsiPort, SK.ExplicitAnsiPort):
                raise _Decline(f"unsupported port {port.kind}")
            header = getattr(port, "header", None)
            direction = bool(port.direction) if port.kind == SK.ExplicitAnsiPort else bool(_direction_of(header))
            if header is not None and header.kind == SK.InterfacePortHeader:
                raise _Decline("interface port")
            if direction or not groups:
                if not direction:
                    raise _Decline("first port has no direction")
                groups.append([port])
            else:
                groups[-1].append(port)
    if len(groups) < 2:
        raise _Decline("fewer than two port declarations")
    spans = [(src.span(g[0])[0], src.span(g[-1])[1]) for g in groups]
    texts = [src.text_of(s) for s in spans]
    for (start, end), text in zip(spans, reversed(texts)):
        src.replace(start, end, text)
    result = src.result()
    before = _port_signature(source, top)
    after = _port_signature(result, top)
    if before is None or after is None or sorted(before) != sorted(after) or after == before:
        raise _Decline("reordering changed the ports")
    return result


def _always_star_blocks(src: _Source) -> list:
    blocks = []
    for block in src.nodes(SK.AlwaysBlock):
        statement = block.statement
        if (
            block.keyword.kind == TK.AlwaysKeyword
            and statement.kind == SK.TimingControlStatement
            and statement.timingControl.kind == SK.ImplicitEventControl
        ):
            blocks.append(block)
    return blocks


@dataclasses.dataclass
class _Analysis:
    diagnostics: collections.Counter  # diagnostic code -> count (elaboration + analysis)
    sensitivity: dict  # start offset of an always/always_comb block -> names it is sensitive to


def _analyze(text: str) -> _Analysis | None:
    """Elaborate every module of ``text`` and run pyslang's analysis (drivers, sensitivity).

    ``None`` when ``text`` does not elaborate without errors.
    """
    tree = syntax.SyntaxTree.fromText(text, "analyze.v")
    if any(d.isError() for d in tree.diagnostics):
        return None
    compilation = ast.Compilation()
    compilation.addSyntaxTree(tree)
    diagnostics = list(compilation.getAllDiagnostics())
    if any(d.isError() for d in diagnostics):
        return None
    compilation.freeze()
    sensitivity: dict[int, frozenset] = {}

    def on_procedure(procedure) -> None:
        symbol = procedure.analyzedSymbol
        if not isinstance(symbol, ast.ProceduralBlockSymbol) or symbol.syntax is None:
            return
        if symbol.procedureKind not in (ast.ProceduralBlockKind.Always, ast.ProceduralBlockKind.AlwaysComb):
            return
        reads = procedure.sensitivityList.reads if procedure.sensitivityList is not None else []
        # parameters and other constants can never wake a block up
        names = frozenset(
            r.symbol.name for r in reads if r.symbol.kind in (ast.SymbolKind.Variable, ast.SymbolKind.Net)
        )
        offset = symbol.syntax.sourceRange.start.offset
        sensitivity[offset] = sensitivity.get(offset, frozenset()) | names

    manager = analysis.AnalysisManager()
    manager.addProcListener(on_procedure)
    manager.analyze(compilation)
    diagnostics += list(manager.getDiagnostics())
    counts = collections.Counter(str(d.code) for d in diagnostics)
    return _Analysis(counts, sensitivity)


def _lhs_roots(src: _Source, expr) -> list:
    """Identifier tokens of the variables an assignment target writes (``v`` of ``v[i]``)."""
    kind = expr.kind
    if kind == SK.IdentifierName:
        return [expr.identifier]
    if kind == SK.IdentifierSelectName:
        return [expr.identifier]
    if kind == SK.ParenthesizedExpression:
        return _lhs_roots(src, expr.expression)
    if kind == SK.ConcatenationExpression:
        return [t for e in _items(expr.expressions) for t in _lhs_roots(src, e)]
    return []


def _names_read(src: _Source, node) -> set[str]:
    """Identifiers ``node`` reads: all but the targets of plain ``=`` / ``<=`` assignments."""
    written: set[int] = set()

    def visit(n):
        if not isinstance(n, parsing.Token) and n.kind in (
            SK.AssignmentExpression,
            SK.NonblockingAssignmentExpression,
        ):
            written.update(t.location.offset for t in _lhs_roots(src, n.left))

    node.visit(visit)
    return {
        t.valueText for t in src.tokens(node) if t.kind == TK.Identifier and t.location.offset not in written
    }


def _names_written(src: _Source, node) -> set[str]:
    """Variables ``node`` assigns (in full or in part), by any assignment or ``++``/``--``."""
    written: set[str] = set()

    def visit(n):
        if isinstance(n, parsing.Token):
            return
        name = n.kind.name
        if name.endswith("AssignmentExpression"):
            written.update(t.valueText for t in _lhs_roots(src, n.left))
        elif name.endswith("crementExpression"):
            operand = getattr(n, "operand", None)
            if operand is not None:
                written.update(t.valueText for t in _lhs_roots(src, operand))

    node.visit(visit)
    return written


def _full_write(statement, name: str, src: _Source) -> bool:
    """Whether ``statement`` starts by assigning all of ``name`` from other values.

    ``name = expr;`` (``expr`` not reading ``name``), or a ``for`` loop whose initializer
    does that.
    """
    if statement.kind == SK.ExpressionStatement:
        candidates = [statement.expr]
    elif statement.kind == SK.ForLoopStatement:
        candidates = _items(statement.initializers)
    else:
        return False
    for expr in candidates:
        if expr.kind == SK.AssignmentExpression and expr.left.kind == SK.IdentifierName:
            reads_it = name in _names_read(src, expr.right)
            if expr.left.identifier.valueText == name:
                return not reads_it
            if reads_it:
                return False
        elif name in _names_read(src, expr):
            return False
    return False


def _flat_statements(statement) -> list:
    """The statements run in sequence, with nested ``begin ... end`` blocks opened."""
    if statement.kind == SK.SequentialBlockStatement:
        out = []
        for item in statement.items:
            out += _flat_statements(item)
        return out
    return [statement]


def _self_wakeups_harmless(src: _Source, block, names: set[str]) -> bool:
    """Whether running the block again after it changed one of ``names`` changes nothing.

    ``always @*`` wakes up when the block changes a variable it also reads; ``always_comb``
    does not. Running again is harmless if, for each such variable, no read of it can see
    a value written later in the same run: it is assigned in full before it is read, or
    nothing after its first read writes it. Checked on the block's top-level statement
    sequence; a statement that both reads and writes the variable (a loop, a branch)
    before it is assigned in full makes this return False.
    """
    body = block.statement
    if block.kind == SK.AlwaysBlock:
        body = body.statement
    statements = _flat_statements(body)
    for name in names:
        read_seen = False
        for statement in statements:
            if _full_write(statement, name, src):
                if read_seen:
                    return False
                break
            writes = name in _names_written(src, statement)
            reads = name in _names_read(src, statement)
            if writes and (reads or read_seen):
                return False
            read_seen = read_seen or reads
    return True


@_declines
def always_style(source: str, top: str) -> str:
    """``always @*`` / ``always @(*)`` become ``always_comb``; if there are none,
    ``always_comb`` becomes ``always @*``.

    The two differ in what wakes the block up, so a block is converted only when pyslang's
    analysis shows that cannot matter: the ``always @*`` form is sensitive to something
    (else it never runs, while ``always_comb`` runs at time 0); ``always_comb`` is sensitive
    to nothing more (it also watches what called functions read); and whatever only
    ``always @*`` watches (variables the block writes itself) cannot change the result
    of running the block again (see :func:`_self_wakeups_harmless`). A block is also left alone if converting it makes the design
    illegal or adds a diagnostic (an ``always_comb`` may not share its variables with
    another process). Declines when no block can be converted.
    """
    src = _Source(source)
    src.module(top)
    to_comb = True
    blocks = _always_star_blocks(src)
    if not blocks:
        to_comb = False
        blocks = src.nodes(SK.AlwaysCombBlock)
    if not blocks:
        raise _Decline("no always @* or always_comb block")
    for block in blocks:
        if not src.in_text(block.keyword):
            raise _Decline("block comes from a macro")

    def edits_for(block) -> list[tuple[int, int, str]]:
        start = block.keyword.location.offset
        keyword_end = start + len(block.keyword.rawText.encode())
        if block.kind == SK.AlwaysCombBlock:
            return [(start, keyword_end, "always @*")]
        control_start, control_end = src.span(block.statement.timingControl)
        if not src.data[keyword_end:control_start].strip():
            return [(start, control_end, "always_comb")]
        # keep the comment between the keyword and the event control
        return [(start, keyword_end, "always_comb"), (control_start, control_end, "")]

    def convert(chosen: list) -> str:
        trial = _Source(source)
        for block in chosen:
            for edit in edits_for(block):
                trial.replace(*edit)
        return trial.result()

    before = _analyze(source)
    after = _analyze(convert(blocks))
    if before is None or after is None:
        raise _Decline("does not elaborate")
    # offsets of each block in the original and in the converted text
    shift = 0
    positions = []
    for block in blocks:
        start = block.keyword.location.offset
        positions.append((start, start + shift))
        shift += sum(len(new.encode()) - (e - s) for s, e, new in edits_for(block))
    accepted = []
    for block, (old, new) in zip(blocks, positions):
        if old not in before.sensitivity or new not in after.sensitivity:
            continue  # not elaborated: nothing to check it against
        star, comb = (before, after) if to_comb else (after, before)
        star_names = star.sensitivity[old if to_comb else new]
        comb_names = comb.sensitivity[new if to_comb else old]
        if not star_names or not comb_names <= star_names:
            continue
        if not _self_wakeups_harmless(src, block, set(star_names - comb_names)):
            continue
        accepted.append(block)

    def clean(text: str) -> bool:
        # no error and no new diagnostic, except that a latch (a variable not assigned on
        # every path) is only worth a warning in an always_comb, the same code in always @*
        result = _analyze(text)
        if result is None:
            return False
        new = result.diagnostics - before.diagnostics
        new.pop("DiagCode(InferredLatch)", None)
        return not new

    legal = [b for b in accepted if clean(convert([b]))]
    if not legal:
        raise _Decline("no block converts safely")
    result = convert(legal)
    if not clean(result):
        raise _Decline("converted blocks conflict")
    return result


@_declines
def toggle_port_style(source: str, top: str) -> str:
    """ANSI port list -> non-ANSI (names in the header, declarations in the body) and
    non-ANSI -> ANSI, for the top module. Declared ranges are kept as written; a non-ANSI
    port's separate ``reg``/``wire`` declaration is merged into its ANSI declaration.
    """
    src = _Source(source)
    module = src.module(top)
    ports_node = module.header.ports
    if ports_node is None:
        raise _Decline("module has no ports")
    if ports_node.kind == SK.AnsiPortList:
        ports = _ansi_ports(src, module)
        start, end = src.span(ports_node)
        src.replace(start, end, "(" + ", ".join(p.name for p in ports) + ")")
        semi_end = src.span(module.header.semi)[1]
        declarations = "".join(f"\n  {p.header} {p.declarator};" for p in ports)
        src.replace(semi_end, semi_end, declarations)
    elif ports_node.kind == SK.NonAnsiPortList:
        info = _non_ansi_ports(src, module)
        for member in info.port_declarations:
            _remove_member(src, member)
        for member, names in info.merged.values():
            _remove_declarators(src, member, names)
        start, end = src.span(ports_node)
        src.replace(start, end, "(\n" + ",\n".join(f"  {p.header} {p.declarator}" for p in info.ports) + "\n)")
    else:
        raise _Decline("no port list")
    result = src.result()
    # Nets and variables may trade places (an ANSI ``output [3:0] q`` redeclared as
    # ``reg [3:0] q`` in the body becomes a variable port in non-ANSI form), the rest may not.
    before = _port_signature(source, top, detail=1)
    if before is None or _port_signature(result, top, detail=1) != before:
        raise _Decline("port style change altered the ports")
    return result


def _declared_range(src: _Source, data_type, allowed: set[str]) -> str | None:
    """The packed dimensions of ``data_type`` as written, if they only use ``allowed`` names."""
    if data_type is None or data_type.kind not in (SK.ImplicitType, SK.RegType, SK.LogicType, SK.BitType):
        return None
    dimensions = list(data_type.dimensions)
    if not dimensions:
        return ""
    start = src.span(dimensions[0])[0]
    end = src.span(dimensions[-1])[1]
    for dimension in dimensions:
        for token in src.tokens(dimension):
            if token.kind == TK.Identifier and token.valueText not in allowed:
                return None
    return src.text_of((start, end))


@_declines
def wrap_in_helper(source: str, top: str) -> str:
    """Rename the top module ``<top>_core`` and add a new ``<top>`` around it.

    The new module has the same parameters and ports (same order, same declared ranges)
    and instantiates ``<top>_core`` with every port connected by name and every
    overridable parameter passed through.
    """
    src = _Source(source)
    module = src.module(top)
    existing = set(src.modules())
    core = f"{top}_core"
    if core in existing:
        raise _Decline(f"{core} already exists")

    ports_node = module.header.ports
    if ports_node is None:
        raise _Decline("module has no ports")
    if ports_node.kind == SK.AnsiPortList:
        ports = _ansi_ports(src, module)
    else:
        ports = _non_ansi_ports(src, module).ports
    if not ports:
        raise _Decline("module has no ports")

    # overridable parameters
    param_names: list[str] = []
    parameter_list = module.header.parameters
    if parameter_list is not None and _items(parameter_list.declarations):
        header_params = src.text_of(parameter_list)
        keyword = "parameter"
        for decl in _items(parameter_list.declarations):
            if decl.kind != SK.ParameterDeclaration:
                raise _Decline("type parameter")
            if decl.keyword:
                keyword = decl.keyword.valueText
            if keyword == "parameter":
                param_names += [d.name.valueText for d in _items(decl.declarators)]
    else:
        declarations = []
        for member in module.members:
            if member.kind == SK.ParameterDeclarationStatement and member.parameter.keyword.valueText == "parameter":
                if member.parameter.kind != SK.ParameterDeclaration:
                    raise _Decline("type parameter")
                declarations.append(src.text_of(member.parameter))
                param_names += [d.name.valueText for d in _items(member.parameter.declarators)]
        header_params = "#(\n  " + ",\n  ".join(declarations) + "\n)" if declarations else ""

    elaborated = _elaborate(source, top)
    if elaborated is None:
        raise _Decline("source does not elaborate")
    semantic = {p.name: p for p in elaborated[2].body.portList}

    allowed = set(param_names)
    lines = []
    for port in ports:
        symbol = semantic.get(port.name)
        if not isinstance(symbol, ast.PortSymbol) or not symbol.type.isIntegral:
            raise _Decline("port is not a plain bit vector")
        if "[" in port.declarator:
            raise _Decline("port with unpacked dimensions")
        width = symbol.type.bitWidth
        declared = _declared_range(src, port.data_type, allowed)
        if declared is None:
            declared = f"[{width - 1}:0]" if width > 1 else ""
        signed = "signed " if symbol.type.isSigned else ""
        lines.append(f"  {port.direction} wire {signed}{declared + ' ' if declared else ''}{port.name}")

    taken = {p.name for p in ports} | set(param_names) | existing | {core}
    instance = "u_core"
    while instance in taken:
        instance += "_"
    overrides = ""
    if param_names:
        overrides = " #(" + ", ".join(f".{n}({n})" for n in param_names) + ")"
    connections = ", ".join(f".{p.name}({p.name})" for p in ports)
    wrapper = (
        f"\n// helper wrapper added by tests/rewrites.py: {top} around {core}\n"
        f"module {top} {header_params}(\n" + ",\n".join(lines) + "\n);\n"
        f"  {core}{overrides} {instance} ({connections});\n"
        f"endmodule\n"
    )

    src.replace_token(module.header.name, core)
    if module.blockName is not None and module.blockName.name:
        src.replace_token(module.blockName.name, core)
    result = src.result()
    if not result.endswith("\n"):
        result += "\n"
    result += wrapper
    before = _port_signature(source, top, detail=0)
    if before is None or _port_signature(result, top, detail=0) != before:
        raise _Decline("wrapper ports differ")
    return result


ALL_REWRITES: dict[str, Callable[[str, str], str | None]] = {
    "rename_internals": rename_internals,
    "reorder_ports": reorder_ports,
    "always_style": always_style,
    "toggle_port_style": toggle_port_style,
    "wrap_in_helper": wrap_in_helper,
}
