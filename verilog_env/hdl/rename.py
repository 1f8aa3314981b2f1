"""Give every module of a design a prefixed name, so several designs share one simulation.

Each side's modules get their own prefix, keeping golden, candidates and testbench in
disjoint namespaces: a candidate can never replace (or reuse) another side's module,
whatever it names its own. The result is built from :func:`expanded_text`, so the
simulator compiles exactly the tokens pyslang analysed.
"""

from __future__ import annotations

from pyslang import syntax

from .design import Design
from .source import expanded_text, parse

SK = syntax.SyntaxKind


def prefix_modules(design: Design, prefix: str) -> str:
    """The design's macro-expanded text with each module ``m`` it defines renamed ``prefix + m``.

    Declarations, ``endmodule : m`` labels and instantiations are rewritten by token
    offsets (comments and formatting are kept).
    """
    text = expanded_text(design.source, design.timescale)
    source = parse(text, design.source.name)
    names = set(design.modules)
    edits: list[tuple[int, int, str]] = []

    def rename(token) -> None:
        if token is not None and token.valueText in names:
            start = token.location.offset
            edits.append((start, start + len(token.rawText.encode()), prefix + token.valueText))

    def visit(node):
        kind = getattr(node, "kind", None)
        if kind == SK.ModuleDeclaration:
            rename(node.header.name)
            if node.blockName is not None:
                rename(node.blockName.name)
        elif kind == SK.HierarchyInstantiation:
            rename(node.type)

    source.tree.root.visit(visit)
    data = text.encode()
    for start, end, new in sorted(set(edits), reverse=True):
        data = data[:start] + new.encode() + data[end:]
    return data.decode()
