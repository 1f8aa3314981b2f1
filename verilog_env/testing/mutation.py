"""Mutation testing utility: single-point mutants of a Verilog design (test-only).

``mutants(source, seed=..., limit=...)`` returns :class:`Mutant` objects, each a copy of
``source`` with exactly one place changed. Mutation points are found on pyslang's syntax
tree (token offsets, never regular expressions over the Verilog) and the replacement is
spliced into the UTF-8 bytes at those offsets, so comments and formatting survive.

Kinds:

``operator``
    swap one binary operator: ``+``<->``-``, ``&``<->``|``, ``^``->``&``, ``==``<->``!=``,
    ``<``<->``>=``, ``>``<->``<=`` (the mirror pair of ``<``/``>=``), ``<<``<->``>>``,
    ``&&``<->``||``.
``constant``
    change one integer literal: flip its lowest bit (``4'b1010`` -> ``4'b1011``, ``3`` ->
    ``2``), and, when that bit is 1, also ``+1`` (``3`` -> ``4``) as a second mutant (for
    a sized literal ``+1`` wraps within its size, so ``1'b1`` gives only ``1'b0``). The
    size of a sized literal is never touched; literals with x/z digits are skipped;
    ``'0``<->``'1``.
``condition``
    invert the condition of one ``if`` or ``?:``: ``if (c)`` -> ``if (!(c))``,
    ``c ? a : b`` -> ``!(c) ? a : b``.
``drop_bit``
    zero one bit of the value stored by one assignment (continuous, blocking or
    non-blocking) to a target of width W > 1: ``y = expr`` -> ``y = (expr) & W'sb1..101..1``
    (bit k cleared, k chosen by the seed). The mask is signed and exactly W bits wide, so
    the expression's own width and signedness (and hence sign/zero extension) are
    unchanged; only bit k of the stored value differs. Assignments whose right-hand side
    is a bare literal are skipped (that is a ``constant`` mutant).
``reset_value``
    in a clocked block (``always``/``always_ff`` with ``posedge``/``negedge``) whose first
    statement is ``if (<cond>)`` where ``<cond>`` names a reset-like signal
    (rst/reset/clr/clear in the identifier), change the constant that one assignment of
    the reset branch stores: a literal has its lowest bit flipped; another constant
    expression ``e`` (a parameter name, ``{8{1'b0}}``, ...) becomes ``((e) ^ W'sd1)``.

Mutation points are only taken from behavioural code: continuous assignments and the
statements of ``always``/``initial`` blocks, functions and tasks. Declarations (port and
variable ranges, parameters), timing controls (``@(...)``, ``#d``) and loop headers
(``for``/``while``/``repeat``/generate-for) are left alone: mutating them changes
interfaces or makes loops that never end rather than changing the logic.

Each candidate mutant is elaborated by pyslang on its own; any with an error diagnostic
is discarded. Identical texts are kept once. The order (and the sample taken with
``limit``) is a deterministic function of ``seed``: kinds are taken round-robin, each
kind's mutation points in a seeded shuffle.
"""

from __future__ import annotations

import dataclasses
import random
import re

from pyslang import ast, parsing, syntax

SK = syntax.SyntaxKind
TK = parsing.TokenKind

KINDS = ("operator", "constant", "condition", "drop_bit", "reset_value")


@dataclasses.dataclass(frozen=True)
class Mutant:
    kind: str
    description: str
    text: str


@dataclasses.dataclass(frozen=True)
class _Site:
    kind: str
    description: str
    edits: tuple[tuple[int, int, str], ...]  # (start byte, end byte, replacement)


# --- operator table -------------------------------------------------------------

_OPERATOR_SWAPS = {
    SK.AddExpression: "-",
    SK.SubtractExpression: "+",
    SK.BinaryAndExpression: "|",
    SK.BinaryOrExpression: "&",
    SK.BinaryXorExpression: "&",
    SK.EqualityExpression: "!=",
    SK.InequalityExpression: "==",
    SK.LessThanExpression: ">=",
    SK.GreaterThanEqualExpression: "<",
    SK.GreaterThanExpression: "<=",
    SK.LessThanEqualExpression: ">",
    SK.LogicalShiftLeftExpression: ">>",
    SK.LogicalShiftRightExpression: "<<",
    SK.LogicalAndExpression: "||",
    SK.LogicalOrExpression: "&&",
}

_LITERAL_KINDS = (SK.IntegerLiteralExpression, SK.IntegerVectorExpression, SK.UnbasedUnsizedLiteralExpression)
_ASSIGNMENT_KINDS = (SK.AssignmentExpression, SK.NonblockingAssignmentExpression)

# Nodes whose subtree is behavioural code (mutation points may lie inside).
_BEHAVIOUR_ROOTS = {
    SK.ContinuousAssign,
    SK.AlwaysBlock,
    SK.AlwaysCombBlock,
    SK.AlwaysFFBlock,
    SK.AlwaysLatchBlock,
    SK.InitialBlock,
    SK.FunctionDeclaration,
    SK.TaskDeclaration,
}
# Nodes whose subtree is never mutated.
_EXCLUDED = {
    SK.DataDeclaration,
    SK.NetDeclaration,
    SK.ParameterDeclaration,
    SK.ParameterDeclarationStatement,
    SK.TypedefDeclaration,
    SK.FunctionPrototype,
    SK.PortDeclaration,
    SK.GenvarDeclaration,
    SK.DelayControl,
    SK.EventControl,
    SK.EventControlWithExpression,
    SK.RepeatedEventControl,
}
# Nodes with a header that is excluded and a body (attribute name) that is not.
_HEADER_AND_BODY = {
    SK.ForLoopStatement: "statement",
    SK.LoopStatement: "statement",  # while / repeat
    SK.DoWhileStatement: "statement",
    SK.ForeachLoopStatement: "statement",
    SK.TimingControlStatement: "statement",
    SK.LoopGenerate: "block",
}

_RESET_NAME = re.compile(r"rst|reset|clr|clear", re.IGNORECASE)


def _end(token) -> int:
    return token.location.offset + len(token.rawText.encode())


def _span(node) -> tuple[int, int]:
    return node.getFirstToken().location.offset, _end(node.getLastToken())


class _Finder:
    def __init__(self, text: str, seed: int):
        self.text = text
        self.data = text.encode()
        self.tree = syntax.SyntaxTree.fromText(text)
        self.sm = self.tree.sourceManager
        self.rng = random.Random(f"drop_bit:{seed}")
        self.assignments = self._assignment_info()
        self.sites: list[_Site] = []
        self.reset_literals: set[int] = set()

    # -- elaborated facts about assignments (width of the target, constant RHS) --

    def _assignment_info(self) -> dict[int, tuple[int, bool]]:
        compilation = ast.Compilation()
        compilation.addSyntaxTree(self.tree)
        info: dict[int, tuple[int, bool]] = {}

        def visit(node):
            if isinstance(node, ast.Expression) and node.kind == ast.ExpressionKind.Assignment:
                syn = node.syntax
                left_type = node.left.type
                if syn is not None and left_type.isIntegral:
                    offset = syn.sourceRange.start.offset
                    info.setdefault(offset, (left_type.bitWidth, _is_constant(node.right)))
            return ast.VisitAction.Advance

        compilation.getRoot().visit(visit)
        return info

    def _src(self, start: int, end: int) -> str:
        return self.data[start:end].decode()

    def _from_macro(self, node) -> bool:
        first, last = node.getFirstToken(), node.getLastToken()
        return self.sm.isMacroLoc(first.location) or self.sm.isMacroLoc(last.location)

    def _line(self, offset: int) -> int:
        return self.data.count(b"\n", 0, offset) + 1

    # -- the walk ----------------------------------------------------------------

    def find(self) -> list[_Site]:
        self._reset_sites()
        self._walk(self.tree.root, False)
        return self.sites

    def _walk(self, node, active: bool) -> None:
        if node is None or isinstance(node, parsing.Token):
            return
        kind = node.kind
        if kind in _EXCLUDED:
            return
        if kind in _BEHAVIOUR_ROOTS:
            active = True
        if kind in _HEADER_AND_BODY:
            body = getattr(node, _HEADER_AND_BODY[kind], None)
            body_key = (body.kind, body.sourceRange.start.offset) if body is not None else None
            for i in range(len(node)):
                child = node[i]
                if child is None or isinstance(child, parsing.Token):
                    continue
                if body_key == (child.kind, child.sourceRange.start.offset):
                    self._walk(child, active)
                elif kind == SK.LoopGenerate:
                    continue  # generate-for header: genvar init/limit/step
                # other header parts: skipped entirely
            return
        if active and not self._from_macro(node):
            self._visit(node)
        for i in range(len(node)):
            self._walk(node[i], active)

    def _visit(self, node) -> None:
        kind = node.kind
        if kind in _OPERATOR_SWAPS:
            self._operator(node)
        elif kind in _LITERAL_KINDS:
            self._constant(node)
        elif kind == SK.ConditionalStatement:
            self._if_condition(node)
        elif kind == SK.ConditionalExpression:
            self._ternary_condition(node)
        elif kind in _ASSIGNMENT_KINDS:
            self._drop_bit(node)

    # -- kinds ---------------------------------------------------------------------

    def _operator(self, node) -> None:
        token = node.operatorToken
        if self.sm.isMacroLoc(token.location):
            return
        new = _OPERATOR_SWAPS[node.kind]
        start = token.location.offset
        self.sites.append(
            _Site(
                "operator",
                f"line {self._line(start)}: `{token.rawText}` -> `{new}` in `{self._src(*_span(node))}`",
                ((start, _end(token), new),),
            )
        )

    def _literal_variants(self, node) -> list[tuple[int, int, str, str]]:
        """(start, end, old text, new text) for each mutation of one literal."""
        if node.kind == SK.UnbasedUnsizedLiteralExpression:
            token = node.literal
            raw = token.rawText
            flipped = {"'0": "'1", "'1": "'0"}.get(raw)
            return [(token.location.offset, _end(token), raw, flipped)] if flipped else []
        if node.kind == SK.IntegerLiteralExpression:
            token = node.literal
            digits = token.rawText.replace("_", "")
            if not digits.isdigit():
                return []
            value = int(digits)
            out = [(token.location.offset, _end(token), token.rawText, str(value ^ 1))]
            if value & 1:
                out.append((token.location.offset, _end(token), token.rawText, str(value + 1)))
            return out
        # IntegerVectorExpression: [size] 'base value
        token = node.value
        base = node.base.rawText.lower().replace("s", "")[-1]
        radix = {"b": 2, "o": 8, "d": 10, "h": 16}.get(base)
        raw = token.rawText
        digits = raw.replace("_", "")
        if radix is None or not digits or any(c in "xXzZ?" for c in digits):
            return []
        value = int(digits, radix)
        size = node.size.rawText.replace("_", "") if node.size is not None else ""
        modulus = 1 << int(size) if size.isdigit() and int(size) > 0 else None
        out = []
        for new_value in ([value ^ 1] + ([value + 1] if value & 1 else [])):
            if modulus is not None:
                new_value %= modulus  # +1 wraps within the literal's size
            new = _format(new_value, radix, len(digits))
            if new_value != value and new not in [o[3] for o in out]:
                out.append((token.location.offset, _end(token), raw, new))
        return out

    def _constant(self, node) -> None:
        start = node.getFirstToken().location.offset
        if start in self.reset_literals:
            return
        whole = self._src(*_span(node))
        for s, e, old, new in self._literal_variants(node):
            mutated = self._src(_span(node)[0], s) + new + self._src(e, _span(node)[1])
            self.sites.append(
                _Site("constant", f"line {self._line(s)}: literal `{whole}` -> `{mutated}`", ((s, e, new),))
            )

    def _wrap_predicate(self, predicate, what: str) -> None:
        conditions = list(predicate.conditions)
        if len(conditions) != 1 or conditions[0].matchesClause is not None:
            return
        start, end = _span(predicate)
        cond = self._src(start, end)
        self.sites.append(
            _Site(
                "condition",
                f"line {self._line(start)}: {what} condition `{cond}` -> `!({cond})`",
                ((start, start, "!("), (end, end, ")")),
            )
        )

    def _if_condition(self, node) -> None:
        self._wrap_predicate(node.predicate, "if")

    def _ternary_condition(self, node) -> None:
        self._wrap_predicate(node.predicate, "?:")

    def _drop_bit(self, node) -> None:
        start = node.sourceRange.start.offset
        info = self.assignments.get(start)
        if info is None:
            return
        width, _ = info
        right = node.right
        if width < 2 or right.kind in _LITERAL_KINDS:
            return
        k = self.rng.randrange(width)
        mask = "".join("0" if bit == k else "1" for bit in range(width - 1, -1, -1))
        r0, r1 = _span(right)
        target = self._src(*_span(node.left))
        self.sites.append(
            _Site(
                "drop_bit",
                f"line {self._line(r0)}: bit {k} of the value assigned to `{target}` forced to 0",
                ((r0, r0, "("), (r1, r1, f") & {width}'sb{mask}")),
            )
        )

    # -- reset branches --------------------------------------------------------------

    def _reset_sites(self) -> None:
        def visit(node):
            if isinstance(node, parsing.Token):
                return
            if node.kind in (SK.AlwaysBlock, SK.AlwaysFFBlock) and not self._from_macro(node):
                self._reset_block(node)

        self.tree.root.visit(visit)

    def _reset_block(self, block) -> None:
        stmt = block.statement
        if stmt.kind != SK.TimingControlStatement:
            return
        edges = [t for t in _tokens(stmt.timingControl) if t.kind in (TK.PosEdgeKeyword, TK.NegEdgeKeyword)]
        if not edges:
            return
        first = _first_statement(stmt.statement)
        if first is None or first.kind != SK.ConditionalStatement:
            return
        names = [t.valueText for t in _tokens(first.predicate) if t.kind == TK.Identifier]
        if not any(_RESET_NAME.search(n) for n in names):
            return
        for assignment in _branch_assignments(first.statement):
            info = self.assignments.get(assignment.sourceRange.start.offset)
            if info is None or not info[1]:
                continue  # not an integral target, or the value is not a constant
            width = info[0]
            right = assignment.right
            target = self._src(*_span(assignment.left))
            r0, r1 = _span(right)
            old = self._src(r0, r1)
            if right.kind in _LITERAL_KINDS:
                variants = self._literal_variants(right)
                if not variants:
                    continue
                s, e, _, new = variants[0]
                self.reset_literals.add(r0)
                edits = ((s, e, new),)
                new_text = self._src(r0, s) + new + self._src(e, r1)
            else:
                one = f"{width}'sd1" if width > 1 else "1'b1"
                edits = ((r0, r0, "(("), (r1, r1, f") ^ {one})"))
                new_text = f"(({old}) ^ {one})"
            self.sites.append(
                _Site(
                    "reset_value",
                    f"line {self._line(r0)}: reset value of `{target}` `{old}` -> `{new_text}`",
                    edits,
                )
            )


_CONSTANT_SYMBOLS = {ast.SymbolKind.Parameter, ast.SymbolKind.EnumValue, ast.SymbolKind.Specparam}
_VALUE_KINDS = {ast.ExpressionKind.NamedValue, ast.ExpressionKind.HierarchicalValue}


def _is_constant(expr) -> bool:
    """True if ``expr`` reads no signal: only literals, parameters and enum values."""
    if expr.constant is not None:
        return True
    ok = True

    def visit(node):
        nonlocal ok
        if isinstance(node, ast.Expression):
            if node.kind in _VALUE_KINDS and node.symbol.kind not in _CONSTANT_SYMBOLS:
                ok = False
            elif node.kind in (ast.ExpressionKind.Call, ast.ExpressionKind.Invalid):
                ok = False
        return ast.VisitAction.Advance if ok else ast.VisitAction.Interrupt

    expr.visit(visit)
    return ok


def _format(value: int, radix: int, ndigits: int) -> str:
    if radix == 10:
        return str(value)
    spec = {2: "b", 8: "o", 16: "x"}[radix]
    return format(value, f"0{ndigits}{spec}")


def _tokens(node):
    out = []

    def visit(n):
        if isinstance(n, parsing.Token):
            out.append(n)

    node.visit(visit)
    return out


def _first_statement(stmt):
    while stmt is not None and stmt.kind == SK.SequentialBlockStatement:
        items = list(stmt.items)
        if not items:
            return None
        stmt = items[0]
    return stmt


def _branch_assignments(stmt):
    """Assignments made directly by a statement (through begin/end, not nested ifs)."""
    if stmt is None:
        return []
    if stmt.kind == SK.SequentialBlockStatement:
        return [a for item in stmt.items for a in _branch_assignments(item)]
    if stmt.kind == SK.ExpressionStatement and stmt.expr.kind in _ASSIGNMENT_KINDS:
        return [stmt.expr]
    return []


def _apply(data: bytes, edits) -> str:
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        data = data[:start] + new.encode() + data[end:]
    return data.decode()


def elaborates(text: str) -> bool:
    """True if pyslang parses and elaborates ``text`` with no error diagnostics."""
    tree = syntax.SyntaxTree.fromText(text)
    if any(d.isError() for d in tree.diagnostics):
        return False
    compilation = ast.Compilation()
    compilation.addSyntaxTree(tree)
    return not any(d.isError() for d in compilation.getAllDiagnostics())


def mutation_sites(source: str, *, seed: int = 0) -> list[_Site]:
    """Every mutation point of ``source`` (not yet applied or validated), in source order."""
    return _Finder(source, seed).find()


def mutants(source: str, *, seed: int = 0, limit: int | None = None) -> list[Mutant]:
    """Single-point mutants of ``source`` that still elaborate; see the module docstring."""
    data = source.encode()
    sites = mutation_sites(source, seed=seed)
    rng = random.Random(seed)
    queues = {kind: [s for s in sites if s.kind == kind] for kind in KINDS}
    for kind in KINDS:
        rng.shuffle(queues[kind])
    order = list(KINDS)
    rng.shuffle(order)
    out: list[Mutant] = []
    seen = {source}
    while any(queues.values()) and (limit is None or len(out) < limit):
        for kind in order:
            if limit is not None and len(out) >= limit:
                break
            queue = queues[kind]
            while queue:
                site = queue.pop(0)
                text = _apply(data, site.edits)
                if text in seen:
                    continue
                seen.add(text)
                if elaborates(text):
                    out.append(Mutant(site.kind, site.description, text))
                    break
    return out


__all__ = ["KINDS", "Mutant", "elaborates", "mutants", "mutation_sites"]
