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


def parse(text: str, name: str) -> ParsedSource:
    """Parse ``text``; never reads include files (``include`` is a diagnostic).

    Raises ``ValueError`` for text pyslang cannot take at all (nesting beyond its
    recursion limit, unencodable characters).
    """
    preprocessor = parsing.PreprocessorOptions()
    preprocessor.maxIncludeDepth = 0
    parser = parsing.ParserOptions()
    parser.maxRecursionDepth = 256
    source_manager = pyslang.SourceManager()
    try:
        text.encode("utf-8")
        tree = syntax.SyntaxTree.fromText(
            text, source_manager, name, "", pyslang.Bag([preprocessor, parser])
        )
    except (RuntimeError, TypeError, UnicodeError) as error:
        raise ValueError(str(error) or type(error).__name__) from error
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


def format_diagnostics(diagnostics, source_manager: pyslang.SourceManager, limit: int = 5) -> str:
    """Render the first ``limit`` diagnostics the way a compiler prints them."""
    diagnostics = list(diagnostics)[:limit]
    if not diagnostics:
        return ""
    return pyslang.DiagnosticEngine.reportAll(source_manager, diagnostics).strip()


DEFAULT_TIMESCALE = "`timescale 1ns/1ps"


def expanded_text(source: ParsedSource, timescale: str) -> str:
    """The exact tokens pyslang analysed: macros expanded, directives and disabled code gone.

    The simulator compiles this text, never the original, so no preprocessor difference
    between pyslang and the simulator (predefined macros, `ifdef on tool names, macro
    corner cases) can make it compile code the analysis did not see. ``timescale`` (see
    :func:`timescale_of`) is put back on the first line, since delays depend on it.
    """
    printer = syntax.SyntaxPrinter()
    printer.setIncludeDirectives(False)
    printer.setExpandMacros(True)
    printer.setIncludeSkipped(False)
    printer.setIncludeTrivia(True)
    printer.setIncludeComments(True)
    printer.print(source.tree.root)
    return f"{timescale}\n{printer.str()}\n"


def timescale_of(source: ParsedSource) -> str:
    """The source's ``timescale`` directive (one value at most), or the default."""
    values = set()

    def visit(node):
        if isinstance(node, parsing.Token):
            for trivia in node.trivia:
                if trivia.kind == parsing.TriviaKind.Directive:
                    directive = trivia.syntax()
                    if directive.kind == syntax.SyntaxKind.TimeScaleDirective:
                        values.add(" ".join(str(directive).split()))

    source.tree.root.visit(visit)
    if len(values) > 1:
        raise ValueError(f"several different `timescale directives: {', '.join(sorted(values))}")
    return values.pop() if values else DEFAULT_TIMESCALE
