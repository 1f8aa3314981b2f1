"""Generate the testbenches: one records the golden's outputs, one checks candidates.

The *golden testbench* drives the golden alone and records its outputs at every tick
(``golden.trace``). The *candidate testbench* drives up to N candidates side by side and
compares each with that record, replayed from ``expect.hex``, stopping a candidate at its
first mismatch. The golden is never in a candidate's simulation: a candidate cannot read,
copy or disturb it, and a record is always made by the golden alone. Instance names, the
candidates' module prefixes (see :mod:`.simcheck`) and the testbench's module name are
derived from a per-run random nonce, so no name in a candidate can guess them.

Time is divided into ticks of 10 ns. In every tick the non-clock inputs take their next
values from ``stim.hex`` (see :mod:`.stimulus`) at +2 ns, outputs are sampled at +4 ns
and clock edges happen at +5 ns, so stimulus, sampling and edges never race. What an
edge did is seen at the next tick's sample; sampling before the edge also sees power-on
values (the first sample precedes the first edge) and level-sensitive behaviour
(latches, outputs that follow the clock), since the clock is low before rising edges
and high before falling ones. The first clock
toggles every tick (one cycle = two ticks); further clocks toggle every 3, 2, 5, ... ticks
with a seeded phase, so multi-clock designs see unrelated edges.

Comparison is X-aware and happens at every tick, from the first: the recorded golden
value comes with a mask of its 0/1 bits and a mask of its Z bits. X bits of the golden are
don't-care; 0/1 bits must be equal (an X/Z in the candidate there is a mismatch); a Z bit
(a released tri-state output) must be Z in the candidate too. Power-on X values of the
golden are don't-care like any other X; and while a design's first reset is applied
(ticks 0-2), an X of the candidate is tolerated too (a golden's `if` on an unreset
register turns power-on X into a value nobody specified), while a wrong 0/1 is not.
Candidate results are written to a results file
the design cannot reach (file I/O is refused by the policy), on lines that start with
the nonce.
"""

from __future__ import annotations

import random

import numpy as np

from ..hdl.design import Design, Port
from . import stimulus

STIMULUS_FILE = "stim.hex"
EXPECTED_FILE = "expect.hex"
GOLDEN_TRACE_FILE = "golden.trace"
RESULTS_FILE = "results.txt"
_EXTRA_CLOCK_HALF_PERIODS = (3, 2, 5, 7, 11, 13)


def module_name(nonce: str) -> str:
    """The testbench's module name: unguessable, like the nonce it is made from."""
    return f"verilog_env_tb_{nonce}"


def _vec(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def clock_schedule(clocks: list[str], seed: int) -> list[tuple[str, int, int]]:
    """(clock, half period in ticks, phase) for each clock; the first toggles every tick."""
    rng = random.Random(seed)
    schedule = [(clocks[0], 1, 0)] if clocks else []
    for i, name in enumerate(clocks[1:]):
        half = _EXTRA_CLOCK_HALF_PERIODS[i % len(_EXTRA_CLOCK_HALF_PERIODS)]
        schedule.append((name, half, rng.randrange(half)))
    return schedule


def _testbench(
    design: Design,
    instances: list[tuple[str, str, str, str | None]],
    stimulus_ports: tuple[Port, ...],
    ticks: int,
    seed: int,
    nonce: str,
    declarations: list[str],
    setup: list[str],
    sample: list[str],
    loop_condition: str,
    finish: list[str],
    preset: dict[str, int] | None = None,
    stimulus_file: str = STIMULUS_FILE,
    end: str = "$finish;",
) -> str:
    """The shared skeleton: ports, instances, stimulus replay, clocks; hooks for the rest.

    ``instances`` are (output prefix, module, instance name, gate): an instance with a
    gate (a 1-bit variable of the testbench) gets its own copy of the inputs, updated
    only while the gate is 0, so an instance that has failed stops costing simulation
    time (nothing it is sensitive to changes any more).
    """
    stim_width = sum(p.width for p in stimulus_ports)
    lines = ["`timescale 1ns/1ps", f"module {module_name(nonce)};", "  integer tick;"]

    def init(p: Port) -> str:
        return f" = {p.width}'d{preset[p.name]}" if preset and p.name in preset else ""

    for p in design.inputs:
        lines.append(f"  reg {_vec(p.width)}i_{p.name}{init(p)};")
    gated = [(prefix, gate) for prefix, _, _, gate in instances if gate]
    for prefix, _ in gated:
        lines += [f"  reg {_vec(p.width)}{prefix}_i_{p.name}{init(p)};" for p in design.inputs]
    if stim_width:
        lines.append(f"  reg [{stim_width - 1}:0] stim [0:{ticks - 1}];")
    for prefix, _, _, _ in instances:
        for p in design.outputs:
            lines.append(f"  wire {_vec(p.width)}{prefix}_{p.name};")
    lines += declarations
    for prefix, top, instance, gate in instances:
        source = f"{prefix}_i_" if gate else "i_"
        connections = [f".{p.name}({source}{p.name})" for p in design.inputs]
        connections += [f".{p.name}({prefix}_{p.name})" for p in design.outputs]
        lines.append(f"  {top} {instance} ({', '.join(connections)});")

    def forward(names: list[str], indent: str) -> list[str]:
        if not names:
            return []
        out = []
        for prefix, gate in gated:
            mine = "{" + ", ".join(f"{prefix}_i_{n}" for n in names) + "}"
            theirs = "{" + ", ".join(f"i_{n}" for n in names) + "}"
            out.append(f"{indent}if (!{gate}) {mine} = {theirs};")
        return out

    schedule = clock_schedule(list(design.clocks), seed)
    lines.append("  initial begin")
    if stim_width:
        lines.append(f'    $readmemh("{stimulus_file}", stim);')
    lines += [f"    i_{name} = 1'b0;" for name, _, _ in schedule]
    lines += setup  # (sets the gates to 0 first)
    lines += forward([name for name, _, _ in schedule], "    ")
    lines.append("    #2;")
    lines.append(f"    for (tick = 0; tick < {ticks}{loop_condition}; tick = tick + 1) begin")
    if stim_width:
        packed = "{" + ", ".join(f"i_{p.name}" for p in stimulus_ports) + "}"
        lines.append(f"      {packed} = stim[tick];")
        lines += forward([p.name for p in stimulus_ports], "      ")
    lines.append("      #2;")
    lines += sample
    if schedule:
        lines.append("      #1;")
        for name, half, phase in schedule:
            toggle = f"i_{name} = ~i_{name};"
            lines.append(f"      {toggle}" if half == 1 else f"      if (tick % {half} == {phase}) {toggle}")
        lines += forward([name for name, _, _ in schedule], "      ")
        lines.append("      #7;")
    else:
        lines.append("      #8;")
    lines.append("    end")
    lines += finish
    lines += [f"    {end}", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


def _outputs(prefix: str, design: Design) -> str:
    return "{" + ", ".join(f"{prefix}_{p.name}" for p in design.outputs) + "}"


def _trace_hooks(design: Design, ticks: int) -> tuple[list[str], list[str], list[str]]:
    """(declarations, per-tick sample, finish) that record the golden's outputs.

    Kept in memory and written once at the end (``$writememb``, the ticks that ran):
    a system-task call per tick cost more than the rest of the testbench loop.
    """
    width = sum(p.width for p in design.outputs)
    return (
        [f"  reg [{width - 1}:0] trace [0:{ticks - 1}];"],
        [f"      trace[tick] = {_outputs('g', design)};"],
        [f'    $writememb("{GOLDEN_TRACE_FILE}", trace, 0, tick - 1);'],
    )


def read_trace(text: str, width: int) -> np.ndarray | None:
    """The recorded golden outputs (``$writememb``'s file) as a ``(ticks, width)`` array of
    ASCII '0'/'1'/'x'/'z' codes; None when a line is not ``width`` characters long."""
    lines = (line.strip() for line in text.encode("ascii", "replace").splitlines())
    lines = [line for line in lines if line and not line.startswith(b"//")]
    if any(len(line) != width for line in lines):
        return None
    return np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), width)


def first_edges(design: Design, stim: stimulus.Stimulus) -> dict[str, int]:
    """Initial values for a 2-state simulator's input registers that give the first edges
    Icarus sees: there every input starts X, and X->0 is a falling edge, X->1 a rising one
    (an active-low reset applied at time 2 ns resets an asynchronous design). Each input
    starts at the complement of its first value: 1 for clocks (they are set to 0 at 0 ns),
    the inverted first stimulus value for the others."""
    preset = {name: 1 for name in design.clocks}
    for port, values in zip(stim.ports, stim.values):
        preset[port.name] = ~int(values[0]) & ((1 << port.width) - 1)
    return preset


def golden_testbench(
    design: Design, golden_top: str, stimulus_ports: tuple[Port, ...], ticks: int, seed: int, nonce: str,
    preset: dict[str, int] | None = None,
) -> str:
    """Drive the golden alone; write its packed outputs, one binary line per tick
    (``preset``: initial input values, :func:`first_edges`)."""
    declarations, sample, finish = _trace_hooks(design, ticks)
    return _testbench(
        design,
        [("g", golden_top, f"g_{nonce}", None)],
        stimulus_ports,
        ticks,
        seed,
        nonce,
        declarations=declarations,
        setup=[],
        sample=sample,
        loop_condition="",
        finish=finish + [f'    $display("{nonce} END");'],
        preset=preset,
    )


def candidate_testbench(
    design: Design,
    candidate_tops: list[str],
    stimulus_ports: tuple[Port, ...],
    ticks: int,
    seed: int,
    nonce: str,
    preset: dict[str, int] | None = None,
    part: int | None = None,
    join: str | None = None,
) -> str:
    """Drive the candidates together and compare each with the golden's record every tick.

    ``part`` and ``join``: one of several testbenches (of different goldens) in one run;
    its files carry the part's number (:func:`part_files`), and at its end it counts down
    the ``join`` module (:func:`join_module`), which ends the run after the last one.

    The record (``expect.hex``, see :func:`expected_hex`) holds, per tick, the golden's Z
    mask, 0/1 mask and 0/1 values. A candidate equal to the golden's exact 4-state value
    costs one comparison; otherwise its 0/1 bits are compared under the mask, and its Z
    bits one by one (only at ticks where the golden has Z bits: tri-state designs).
    """
    width = sum(p.width for p in design.outputs)
    n = len(candidate_tops)
    declarations = [
        "  integer alive, results, b;",
        "  reg bad;",
        f"  reg [{width - 1}:0] zmask, known, value, cand;",
        f"  reg [{3 * width - 1}:0] expected [0:{ticks - 1}];",
    ]
    declarations += [f"  reg failed{k};" for k in range(n)]
    stimulus_file, expected_file, results_file = part_files(part)
    setup = [f'    $readmemh("{expected_file}", expected);', f'    results = $fopen("{results_file}", "w");',
             f"    alive = {n};"]
    setup += [f"    failed{k} = 0;" for k in range(n)]
    # With several candidates, each has gated inputs: one that failed is frozen.
    instances = [(f"c{k}", top, f"u{nonce}_{k}", f"failed{k}" if n > 1 else None) for k, top in enumerate(candidate_tops)]
    sample = ["      {zmask, known, value} = expected[tick];"]
    # Power-on window (a design with resets, while the first reset is applied): an X bit
    # of the candidate is tolerated like one of the golden's, since which power-on value
    # an `if` on an unreset register turns into is not specified; a wrong 0/1 is not.
    power_on = f"tick < {stimulus.RESET_TICKS}" if design.clocks and design.resets else None
    for k in range(n):
        outputs = _outputs(f"c{k}", design)
        compare = "(cand & known) !== (value & known)"
        if power_on:
            compare = f"{power_on} ? (|((cand ^ value) & known)) === 1'b1 : {compare}"
        sample += [
            # Equal to the golden's 0/1 value where the golden has no Z: nothing to mask.
            f"      if (!failed{k} && ({outputs} !== value || |zmask)) begin",
            f"        cand = {outputs};",
            f"        bad = {compare};",
            f"        if (!bad && |zmask) for (b = 0; b < {width}; b = b + 1) if (zmask[b] && cand[b] !== 1'bz) bad = 1;",
            "        if (bad) begin",
            f'          $fdisplay(results, "{nonce} MISMATCH {k} %0d %0d %b", tick, $time, cand);',
            f"          failed{k} = 1; alive = alive - 1;",
            "        end",
            "      end",
        ]
    finish = [f'    if (!failed{k}) $fdisplay(results, "{nonce} PASS {k} %0d", tick);' for k in range(n)]
    finish += [f'    $fdisplay(results, "{nonce} END");', "    $fclose(results);"]
    return _testbench(
        design,
        instances,
        stimulus_ports,
        ticks,
        seed,
        nonce,
        declarations,
        setup,
        sample,
        loop_condition=" && alive > 0",
        finish=finish,
        preset=preset,
        stimulus_file=stimulus_file,
        end="$finish;" if join is None else f"{join}.left = {join}.left - 1;",
    )


def part_files(part: int | None) -> tuple[str, str, str]:
    """The stimulus, record and results files of a testbench (``part``: its number in a
    run of several, or ``None`` alone)."""
    if part is None:
        return STIMULUS_FILE, EXPECTED_FILE, RESULTS_FILE
    return tuple(name.replace(".", f"{part}.", 1) for name in (STIMULUS_FILE, EXPECTED_FILE, RESULTS_FILE))


def join_module(nonce: str, parts: int) -> tuple[str, str]:
    """(name, text) of the module that ends a run of ``parts`` testbenches once each has
    counted it down (a testbench alone ends the run itself)."""
    name = f"verilog_env_join_{nonce}"
    return name, (f"module {name};\n  integer left = {parts};\n"
                  f"  initial begin\n    wait (left == 0);\n    $finish;\n  end\nendmodule\n")


def expected_hex(chars: np.ndarray) -> str:
    """The golden's record (:func:`read_trace`'s array) as ``expect.hex`` lines:
    ``{Z mask, 0/1 mask, 0/1 value}`` per tick."""
    ticks, width = chars.shape
    digits = (3 * width + 3) // 4
    bits = np.zeros((ticks, 4 * digits), dtype=np.uint8)
    pad = 4 * digits - 3 * width
    bits[:, pad : pad + width] = chars == ord("z")
    bits[:, pad + width : pad + 2 * width] = (chars == ord("0")) | (chars == ord("1"))
    bits[:, pad + 2 * width :] = chars == ord("1")
    nibbles = bits.reshape(ticks, digits, 4) @ np.array([8, 4, 2, 1], dtype=np.uint8)
    return stimulus.ascii_lines(np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles])
