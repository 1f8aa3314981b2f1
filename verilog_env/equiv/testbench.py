"""Generate the self-checking testbench that runs golden and candidates side by side.

Time is divided into ticks of 10 ns. In every tick the non-clock inputs take their next
values from ``stim.hex`` (see :mod:`.stimulus`) at +2 ns, clock edges happen at +5 ns
and outputs are compared at +8 ns, so stimulus, edges and sampling never race. The first
clock toggles every tick (one cycle = two ticks); further clocks toggle every 3, 2, 5, ...
ticks with a seeded phase, so multi-clock designs see unrelated edges.

Outputs are compared with X-aware rules: a bit that is X/Z in the golden is don't-care;
any other bit must match exactly (an X/Z in the candidate there is a mismatch). Results
are printed on lines that start with a per-run nonce the design cannot know, so nothing
a design prints can pass for a verdict.
"""

from __future__ import annotations

import dataclasses
import random

from ..hdl.design import Design, Port

TICK_NS = 10
STIMULUS_FILE = "stim.hex"
TB_MODULE = "verilog_env_tb"
_EXTRA_CLOCK_HALF_PERIODS = (3, 2, 5, 7, 11, 13)


@dataclasses.dataclass(frozen=True)
class TestbenchPlan:
    """Everything that determines the generated testbench (and so the verdict)."""

    golden: Design
    golden_top: str
    candidate_tops: list[str]
    stimulus_ports: tuple[Port, ...]
    ticks: int
    seed: int
    nonce: str


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


def generate(plan: TestbenchPlan) -> str:
    design = plan.golden
    outputs = design.outputs
    nonce = plan.nonce
    stim_width = sum(p.width for p in plan.stimulus_ports)
    n = len(plan.candidate_tops)

    lines: list[str] = ["`timescale 1ns/1ps", f"module {TB_MODULE};"]
    add = lines.append
    add("  integer tick, alive, b;")
    for p in design.inputs:
        add(f"  reg {_vec(p.width)}i_{p.name};")
    if stim_width:
        add(f"  reg [{stim_width - 1}:0] stim [0:{plan.ticks - 1}];")
    sides = [("g", plan.golden_top, "u_gold")] + [
        (f"c{k}", top, f"u_cand{k}") for k, top in enumerate(plan.candidate_tops)
    ]
    for prefix, _, _ in sides:
        for p in outputs:
            add(f"  wire {_vec(p.width)}{prefix}_{p.name};")
    for k in range(n):
        add(f"  reg failed{k};")
        for p in outputs:
            add(f"  reg bad{k}_{p.name};")
    for prefix, top, instance in sides:
        connections = [f".{p.name}(i_{p.name})" for p in design.inputs]
        connections += [f".{p.name}({prefix}_{p.name})" for p in outputs]
        add(f"  {top} {instance} ({', '.join(connections)});")

    golden_all = "{" + ", ".join(f"g_{p.name}" for p in outputs) + "}"
    for k in range(n):
        cand_all = "{" + ", ".join(f"c{k}_{p.name}" for p in outputs) + "}"
        add(f"  task compare{k};")
        add("    begin")
        add(f"      if (!failed{k} && {cand_all} !== {golden_all}) begin")
        for p in outputs:
            g, c, bad = f"g_{p.name}", f"c{k}_{p.name}", f"bad{k}_{p.name}"
            add(f"        {bad} = 0;")
            if p.width == 1:
                add(f"        if (({g} === 1'b0 || {g} === 1'b1) && {c} !== {g}) {bad} = 1;")
            else:
                add(f"        if ({c} !== {g})")
                add(f"          for (b = 0; b < {p.width}; b = b + 1)")
                add(f"            if (({g}[b] === 1'b0 || {g}[b] === 1'b1) && {c}[b] !== {g}[b]) {bad} = 1;")
        any_bad = " || ".join(f"bad{k}_{p.name}" for p in outputs)
        add(f"        if ({any_bad}) begin")
        add(f'          $display("{nonce} MISMATCH {k} %0d %0d", tick, $time);')
        for p in outputs:
            add(f'          $display("{nonce} OUT {k} {p.name} %0d %b %b", bad{k}_{p.name}, g_{p.name}, c{k}_{p.name});')
        add(f"          failed{k} = 1; alive = alive - 1;")
        add("        end")
        add("      end")
        add("    end")
        add("  endtask")

    schedule = clock_schedule(list(design.clocks), plan.seed)
    packed = "{" + ", ".join(f"i_{p.name}" for p in plan.stimulus_ports) + "}"
    add("  initial begin")
    if stim_width:
        add(f'    $readmemh("{STIMULUS_FILE}", stim);')
    add(f"    alive = {n};")
    for name, _, _ in schedule:
        add(f"    i_{name} = 1'b0;")
    for k in range(n):
        add(f"    failed{k} = 0;")
    add("    #2;")
    add(f"    for (tick = 0; tick < {plan.ticks} && alive > 0; tick = tick + 1) begin")
    if stim_width:
        add(f"      {packed} = stim[tick];")
    add("      #3;")
    for name, half, phase in schedule:
        if half == 1:
            add(f"      i_{name} = ~i_{name};")
        else:
            add(f"      if (tick % {half} == {phase}) i_{name} = ~i_{name};")
    add("      #3;")
    for k in range(n):
        add(f"      compare{k};")
    add("      #4;")
    add("    end")
    for k in range(n):
        add(f'    if (!failed{k}) $display("{nonce} PASS {k} %0d", tick);')
    add(f'    $display("{nonce} END");')
    add("    $finish;")
    add("  end")
    add("endmodule")
    return "\n".join(lines) + "\n"
