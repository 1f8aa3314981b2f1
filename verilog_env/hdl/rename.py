"""Give every module of a design a prefixed name, so several designs share one simulation.

Golden and candidates are compiled together; prefixing each side's module names keeps
them in disjoint namespaces, so a candidate can never replace (or reuse) a golden or
testbench module, whatever it names its own.
"""

from __future__ import annotations

from pyslang import syntax

from .design import Design, DesignError

SK = syntax.SyntaxKind


def prefix_modules(design: Design, prefix: str) -> str:
    """Return the design's text with each module ``m`` it defines renamed ``prefix + m``.

    Declarations, ``endmodule : m`` labels and instantiations are rewritten by their
    token offsets in the original text (comments and formatting are kept).
    """
    source = design.source
    names = set(design.modules)
    edits: list[tuple[int, int, str]] = []
    manager = source.source_manager

    def rename(token) -> None:
        if token is None or token.valueText not in names:
            return
        if manager.isMacroLoc(token.location):
            raise DesignError("unsupported", f"module name {token.valueText} comes from a macro")
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
    data = source.text.encode()
    for start, end, new in sorted(set(edits), reverse=True):
        data = data[:start] + new.encode() + data[end:]
    return data.decode()
