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

    No preprocessor difference between pyslang and another tool (predefined macros,
    `ifdef on tool names, macro corner cases) can make that tool compile code the
    analysis did not see. ``timescale`` (see :func:`timescale_of`) is put back on the
    first line. Comments are kept; :func:`canonical_text` is what the checker's engines read.
    """
    printer = syntax.SyntaxPrinter()
    printer.setIncludeDirectives(False)
    printer.setExpandMacros(True)
    printer.setIncludeSkipped(False)
    printer.setIncludeTrivia(True)
    printer.setIncludeComments(True)
    printer.print(source.tree.root)
    return f"{timescale}\n{printer.str()}\n"


Edit = tuple[int, int, "bytes | None"]
"""(start, end, replacement) on the UTF-8 bytes of a text; ``None`` blanks the span."""

_SK = syntax.SyntaxKind
_DELAYS = frozenset({_SK.DelayControl, _SK.Delay3, _SK.CycleDelay, _SK.OneStepDelay})
_COMMENTS = frozenset({parsing.TriviaKind.LineComment, parsing.TriviaKind.BlockComment})


def _span(node) -> tuple[int, int]:
    first, last = node.getFirstToken(), node.getLastToken()
    return first.location.offset, last.location.offset + len(last.rawText.encode())


def canonical_edits(source: ParsedSource) -> list[Edit]:
    """What turns a parsed :func:`expanded_text` into the text every engine reads.

    The simulator and the prover must see one design, with the meaning synthesis gives it:

    * comments are blanked: tools read some of them (``// synopsys translate_off``,
      ``parallel_case``/``full_case`` hot comments), and not the same ones;
    * attribute instances ``(* ... *)`` are blanked (``parallel_case``, ``full_case`` and
      the like steer synthesis only);
    * ``unique``/``unique0``/``priority`` before ``case``/``if`` are blanked: a simulator
      takes the first matching item, synthesis builds a parallel (or don't-care) mux;
    * delays (``#5``, ``#(1,2)``, ``##1``, ``#1step``, in statements, intra-assignment,
      continuous assignments, nets and gates) are blanked: synthesis ignores them, and in
      simulation they would let a design be right only at the sampling instant, or only
      inside the simulated window.

    Spans are blanked byte for byte (newlines kept), so offsets and line numbers stay put.
    """
    edits: list[Edit] = []
    data_end = 0

    def visit(node):
        nonlocal data_end
        if isinstance(node, parsing.Token):
            start = node.location.offset
            cursor = data_end
            for trivia in node.trivia:
                if trivia.kind in _COMMENTS:
                    raw = trivia.getRawText().encode()
                    found = source_bytes.find(raw, cursor, start)
                    if found >= 0:
                        edits.append((found, found + len(raw), None))
                        cursor = found + len(raw)
            data_end = start + len(node.rawText.encode())
            return
        kind = node.kind
        if kind in _DELAYS or kind == _SK.AttributeInstance:
            edits.append((*_span(node), None))
        elif kind in (_SK.CaseStatement, _SK.ConditionalStatement):
            keyword = node.uniqueOrPriority
            if keyword is not None and keyword.rawText:
                offset = keyword.location.offset
                edits.append((offset, offset + len(keyword.rawText.encode()), None))

    source_bytes = source.text.encode()
    source.tree.root.visit(visit)
    return edits


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with ``edits`` applied (a span inside an earlier, larger one is dropped)."""
    data = text.encode()
    out: list[bytes] = []
    position = 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], -e[1])):
        if start < position:  # nested in (or overlapping) a span already handled
            continue
        out.append(data[position:start])
        out.append(bytes(b if b == 10 else 32 for b in data[start:end]) if replacement is None else replacement)
        position = end
    out.append(data[position:])
    return b"".join(out).decode()


def canonical_text(source: ParsedSource, timescale: str) -> str:
    """The text the simulator and the prover compile (see :func:`canonical_edits`)."""
    text = expanded_text(source, timescale)
    return apply_edits(text, canonical_edits(parse(text, source.name)))


def timescale_of(source: ParsedSource) -> str:
    """The source's ``timescale`` directive (one value at most), or the default."""
    if "timescale" not in source.text:  # no directive, nor a macro that holds one: skip the walk
        return DEFAULT_TIMESCALE
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
