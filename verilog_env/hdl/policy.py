"""Candidate policy: what a design under test may not contain.

The check runs on the syntax tree before anything is compiled or simulated. It is an
allow-list for system tasks and compiler directives (anything unknown is refused) and a
deny-list for language constructs that reach outside the design. Hierarchical references
that leave the design are caught later, when the candidate is elaborated on its own
(see :mod:`verilog_env.hdl.design`): there nothing but the candidate exists, so any such
reference fails to resolve.
"""

from __future__ import annotations

import dataclasses

from pyslang import parsing, syntax

from .source import ParsedSource

SK = syntax.SyntaxKind

ALLOWED_SYSTEM_NAMES = frozenset(
    """
    $display $displayb $displayh $displayo $write $writeb $writeh $writeo
    $strobe $strobeb $strobeh $strobeo $monitor $monitorb $monitorh $monitoro
    $monitoron $monitoroff $info $warning $error
    $signed $unsigned $cast $clog2 $bits $size $high $low $left $right $increment
    $dimensions $unpacked_dimensions $countones $countbits $onehot $onehot0 $isunknown
    $itor $rtoi $realtobits $bitstoreal $shortrealtobits $bitstoshortreal $typename
    $ln $log10 $exp $sqrt $pow $floor $ceil $sin $cos $tan $asin $acos $atan $atan2
    $hypot $sinh $cosh $tanh $asinh $acosh $atanh
    $sformatf $sformat $psprintf
    """.split()
)
"""System tasks and functions a design may call: pure computation and console output.

Nothing that reads the simulation time or draws random numbers: a design's outputs may
depend only on its inputs and state, or it could be right only at the testbench's sampling
instants, only inside the simulated window, or replay the reference's outputs for a
known stimulus."""

_SYSTEM_NAME_WHY = {  # first matching prefix wins
    "$finish": "ends the simulation",
    "$stop": "ends the simulation",
    "$exit": "ends the simulation",
    "$fatal": "ends the simulation",
    "$system": "runs a host command",
    "$value$plusargs": "reads the host command line",
    "$time": "reads the simulation time (a design may depend only on its inputs and state)",
    "$stime": "reads the simulation time (a design may depend only on its inputs and state)",
    "$realtime": "reads the simulation time (a design may depend only on its inputs and state)",
    "$random": "draws random numbers (a design may depend only on its inputs and state)",
    "$urandom": "draws random numbers (a design may depend only on its inputs and state)",
    "$dist_": "draws random numbers (a design may depend only on its inputs and state)",
    "$test$plusargs": "reads the host command line",
    "$readmem": "file I/O",
    "$writemem": "file I/O",
    "$dump": "file I/O (waveform dump)",
    "$sdf": "file I/O",
    **{
        name: "file I/O"
        for name in (
            "$fopen $fclose $fwrite $fdisplay $fstrobe $fmonitor $fscanf $fgets $fgetc "
            "$fread $fseek $ftell $fflush $feof $ferror $frewind $rewind $ungetc"
        ).split()
    },
}

ALLOWED_DIRECTIVES = frozenset(
    {
        SK.DefineDirective,
        SK.UndefDirective,
        SK.UndefineAllDirective,
        SK.IfDefDirective,
        SK.IfNDefDirective,
        SK.ElsIfDirective,
        SK.ElseDirective,
        SK.EndIfDirective,
        SK.MacroUsage,
        SK.TimeScaleDirective,
        SK.DefaultNetTypeDirective,
        SK.ResetAllDirective,
        SK.CellDefineDirective,
        SK.EndCellDefineDirective,
        SK.BeginKeywordsDirective,
        SK.EndKeywordsDirective,
    }
)

_FORBIDDEN_NODES = {
    SK.ProceduralForceStatement: "`force` overrides signals from outside the normal data flow",
    SK.ProceduralReleaseStatement: "`release` overrides signals from outside the normal data flow",
    SK.BindDirective: "`bind` injects code into other modules",
    SK.DPIImport: "DPI imports run foreign code on the host",
    SK.DPIExport: "DPI exports expose the design to foreign code",
    SK.ProgramDeclaration: "`program` blocks are testbench code",
    SK.ConfigDeclaration: "`config` blocks change which modules are bound",
    SK.RootScope: "`$root` names the whole simulation, outside the design",
}


@dataclasses.dataclass(frozen=True)
class Violation:
    """One reason to refuse a design, with the 1-based line it was found on."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _why_system_name(name: str) -> str:
    for prefix, why in _SYSTEM_NAME_WHY.items():
        if name.startswith(prefix):
            return why
    return "not on the allow-list of system tasks"


def find_violations(source: ParsedSource, limit: int = 10) -> list[Violation]:
    """Return what in ``source`` breaks the policy (empty when the design may run)."""
    found: list[Violation] = []

    def line_of(location) -> int:
        # Raw line in the text as written: macro expansions map back to their use site,
        # and `line directives (refused anyway) cannot disguise where a problem is.
        original = source.source_manager.getFullyExpandedLoc(location)
        return source.text.count("\n", 0, original.offset) + 1

    def add(location, message: str) -> None:
        if len(found) < limit:
            found.append(Violation(line_of(location), message))

    def visit(node):
        if isinstance(node, parsing.Token):
            for trivia in node.trivia:
                if trivia.kind == parsing.TriviaKind.Directive:
                    directive = trivia.syntax()
                    if directive.kind not in ALLOWED_DIRECTIVES:
                        name = str(directive).strip().split()[0] if str(directive).strip() else "?"
                        add(directive.getFirstToken().location, f"compiler directive {name} is not allowed")
            if node.kind == parsing.TokenKind.SystemIdentifier:
                name = node.valueText
                if name not in ALLOWED_SYSTEM_NAMES:
                    add(node.location, f"system task {name} is not allowed ({_why_system_name(name)})")
            return
        why = _FORBIDDEN_NODES.get(node.kind)
        if why is not None:
            add(node.getFirstToken().location, why)

    source.tree.root.visit(visit)
    return found
