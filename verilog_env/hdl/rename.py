"""Give every module of a design a prefixed name, so several designs share one simulation.

Each side's modules get their own prefix, keeping candidates and testbench in disjoint
namespaces: a candidate can never replace (or reuse) another side's module, whatever it
names its own. The result is :func:`~verilog_env.hdl.source.canonical_text` (macro-
expanded, comments, attributes and delays blanked) with the renames applied, made from
one parse, so the simulator and the prover compile exactly the tokens pyslang analysed.
"""

from __future__ import annotations

from pyslang import syntax

from .design import Design
from .source import Edit, apply_edits, canonical_edits, expanded_text, parse

SK = syntax.SyntaxKind


def prefix_modules(design: Design, prefix: str) -> str:
    """The design's canonical text with each module ``m`` it defines renamed ``prefix + m``.

    Declarations, ``endmodule : m`` labels and instantiations are rewritten by token
    offsets (formatting and line numbers are kept).
    """
    text = expanded_text(design.source, design.timescale)
    source = parse(text, design.source.name)
    names = set(design.modules)
    edits: list[Edit] = canonical_edits(source)

    def rename(token) -> None:
        if token is not None and token.valueText in names:
            start = token.location.offset
            edits.append((start, start + len(token.rawText.encode()), (prefix + token.valueText).encode()))

    def visit(node):
        kind = getattr(node, "kind", None)
        if kind == SK.ModuleDeclaration:
            rename(node.header.name)
            if node.blockName is not None:
                rename(node.blockName.name)
        elif kind == SK.HierarchyInstantiation:
            rename(node.type)

    source.tree.root.visit(visit)
    return apply_edits(text, edits)
