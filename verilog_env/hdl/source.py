"""Parsing and elaborating Verilog/SystemVerilog text with pyslang, with hard limits.

Everything here treats the text as hostile: ``include`` is refused by the preprocessor
(so no file on the host is ever read), recursion and elaboration are bounded, and the
diagnostics come back as compact, line-numbered text.
"""

from __future__ import annotations

import dataclasses

import pyslang
from pyslang import ast, parsing, syntax

MAX_SOURCE_BYTES = 256 * 1024
"""Sources larger than this are refused before parsing (LLM answers are a few KiB)."""


@dataclasses.dataclass
class ParsedSource:
    """One source file parsed on its own source manager."""

    name: str
    text: str
    tree: syntax.SyntaxTree
    source_manager: pyslang.SourceManager

    @property
    def buffer(self) -> pyslang.BufferID:
        return self.tree.root.getFirstToken().location.buffer


def parse(text: str, name: str) -> ParsedSource:
    """Parse ``text``; never reads include files (``include`` is a diagnostic)."""
    preprocessor = parsing.PreprocessorOptions()
    preprocessor.maxIncludeDepth = 0
    parser = parsing.ParserOptions()
    parser.maxRecursionDepth = 256
    source_manager = pyslang.SourceManager()
    tree = syntax.SyntaxTree.fromText(
        text, source_manager, name, "", pyslang.Bag([preprocessor, parser])
    )
    return ParsedSource(name=name, text=text, tree=tree, source_manager=source_manager)


def compile_sources(sources: list[ParsedSource], top: str | None = None) -> ast.Compilation:
    """Elaborate ``sources`` together, optionally forcing the top module."""
    options = ast.CompilationOptions()
    options.maxInstanceDepth = 64
    options.maxGenerateSteps = 16384
    options.maxConstexprSteps = 100_000
    options.maxInstanceArray = 4096
    options.errorLimit = 20
    if top is not None:
        options.topModules = {top}
    compilation = ast.Compilation(pyslang.Bag([options]))
    for source in sources:
        compilation.addSyntaxTree(source.tree)
    return compilation


def error_diagnostics(diagnostics, source_manager: pyslang.SourceManager) -> list:
    return [d for d in diagnostics if d.isError()]


def format_diagnostics(diagnostics, source_manager: pyslang.SourceManager, limit: int = 5) -> str:
    """Render the first ``limit`` diagnostics the way a compiler prints them."""
    diagnostics = list(diagnostics)[:limit]
    if not diagnostics:
        return ""
    return pyslang.DiagnosticEngine.reportAll(source_manager, diagnostics).strip()
