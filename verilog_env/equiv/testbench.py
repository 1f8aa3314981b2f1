"""Generate the self-checking testbench that runs golden and candidates side by side.

Time is divided into ticks of 10 ns. In every tick inputs change at +2 ns, clock edges
happen at +5 ns and outputs are compared at +8 ns, so stimulus, edges and sampling never
race. The first clock toggles every tick (one cycle = two ticks); further clocks toggle
every 3, 2, 5, ... ticks with a seeded phase, so multi-clock designs see unrelated edges.

Stimulus comes from the testbench's own ``$random(seed)`` stream (a design's calls to
``$random`` cannot disturb it). Each input runs in segments of 1-16 ticks, each segment
drawn from: uniform random (3/8), all zeros, all ones, a random one-hot value, a small
value (0-3) or holding the previous value (1/8 each). Resets are asserted for the first
cycle and a half, then for 1-4 ticks with probability 1/64 per tick.

Results are printed on lines that start with a per-run nonce the design cannot know, so
nothing a design prints can pass for a verdict.
"""

from __future__ import annotations

import dataclasses
import random

from ..hdl.design import Design

TICK_NS = 10
HISTORY = 16
_EXTRA_CLOCK_HALF_PERIODS = (3, 2, 5, 7, 11, 13)
TB_MODULE = "verilog_env_tb"


@dataclasses.dataclass(frozen=True)
class TestbenchPlan:
    """Everything that determines the generated testbench (and so the verdict)."""

    golden: Design
    golden_top: str
    candidate_tops: list[str]
    ticks: int
    seed: int
    nonce: str


def _vec(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def _random_bits(width: int) -> str:
    words = (width + 31) // 32
    return "{" + ", ".join(["$random(seed)"] * words) + "}"


def generate(plan: TestbenchPlan) -> str:
    design = plan.golden
    clocks = list(design.clocks)
    resets = {r.name: r for r in design.resets}
    data_inputs = [p for p in design.inputs if p.name not in clocks and p.name not in resets]
    outputs = design.outputs
    nonce = plan.nonce
    phase_rng = random.Random(plan.seed)
    clock_schedule = [(clocks[0], 1, 0)] if clocks else []
    for i, name in enumerate(clocks[1:]):
        half = _EXTRA_CLOCK_HALF_PERIODS[i % len(_EXTRA_CLOCK_HALF_PERIODS)]
        clock_schedule.append((name, half, phase_rng.randrange(half)))

    lines: list[str] = ["`timescale 1ns/1ps", f"module {TB_MODULE};"]
    add = lines.append
    add("  integer seed, tick, alive, b;")
    for p in design.inputs:
        add(f"  reg {_vec(p.width)}i_{p.name};")
        if p.name not in clocks:
            add(f"  reg {_vec(p.width)}h_{p.name} [0:{HISTORY - 1}];")
    for p in data_inputs:
        add(f"  integer m_{p.name}, n_{p.name};")
    for r in resets:
        add(f"  integer n_{r};")
    sides = [("g", plan.golden_top, "u_gold")] + [
        (f"c{k}", top, f"u_cand{k}") for k, top in enumerate(plan.candidate_tops)
    ]
    for prefix, _, _ in sides:
        for p in outputs:
            add(f"  wire {_vec(p.width)}{prefix}_{p.name};")
    for k in range(len(plan.candidate_tops)):
        add(f"  reg failed{k};")
        for p in outputs:
            add(f"  reg bad{k}_{p.name};")
    for prefix, top, instance in sides:
        connections = [f".{p.name}(i_{p.name})" for p in design.inputs]
        connections += [f".{p.name}({prefix}_{p.name})" for p in outputs]
        add(f"  {top} {instance} ({', '.join(connections)});")

    # Stimulus for one tick.
    add("  task drive;")
    add("    begin")
    for p in data_inputs:
        w, n = p.width, p.name
        one_hot = "1'b1" if w == 1 else f"{{{{{w - 1}{{1'b0}}}}, 1'b1}} << ({{$random(seed)}} % {w})"
        add(f"      if (n_{n} <= 0) begin m_{n} = {{$random(seed)}} % 8; n_{n} = 1 + {{$random(seed)}} % 16; end")
        add(f"      n_{n} = n_{n} - 1;")
        add(f"      case (m_{n})")
        add(f"        0, 1, 2: i_{n} = {_random_bits(w)};")
        add(f"        3: i_{n} = 0;")
        add(f"        4: i_{n} = {{{w}{{1'b1}}}};")
        add(f"        5: i_{n} = {one_hot};")
        add(f"        6: i_{n} = {{$random(seed)}} % 4;")
        add("        default: ;  // hold")
        add("      endcase")
    for name, reset in resets.items():
        on, off = ("1'b1", "1'b0") if reset.active_high else ("1'b0", "1'b1")
        add(f"      if (tick < 3) i_{name} = {on};")
        add(f"      else if (n_{name} > 0) begin i_{name} = {on}; n_{name} = n_{name} - 1; end")
        add(f"      else if ({{$random(seed)}} % 64 == 0) begin i_{name} = {on}; n_{name} = {{$random(seed)}} % 4; end")
        add(f"      else i_{name} = {off};")
    for p in design.inputs:
        if p.name not in clocks:
            add(f"      h_{p.name}[tick % {HISTORY}] = i_{p.name};")
    add("    end")
    add("  endtask")

    # Comparison of candidate k against the golden; X/Z in the golden is don't-care.
    for k in range(len(plan.candidate_tops)):
        golden_all = "{" + ", ".join(f"g_{p.name}" for p in outputs) + "}"
        cand_all = "{" + ", ".join(f"c{k}_{p.name}" for p in outputs) + "}"
        add(f"  task compare{k};")
        add("    begin")
        add(f"      if (!failed{k} && {cand_all} !== {golden_all}) begin")
        for p in outputs:
            g, c, bad = f"g_{p.name}", f"c{k}_{p.name}", f"bad{k}_{p.name}"
            add(f"        {bad} = 0;")
            add(f"        if ({c} !== {g})")
            add(f"          for (b = 0; b < {p.width}; b = b + 1)")
            add(f"            if (({g}[b] === 1'b0 || {g}[b] === 1'b1) && {c}[b] !== {g}[b]) {bad} = 1;")
        any_bad = " || ".join(f"bad{k}_{p.name}" for p in outputs)
        add(f"        if ({any_bad}) begin")
        add(f'          $display("{nonce} MISMATCH {k} %0d %0d", tick, $time);')
        for p in outputs:
            g, c = f"g_{p.name}", f"c{k}_{p.name}"
            add(f'          $display("{nonce} OUT {k} {p.name} %0d %b %b", bad{k}_{p.name}, {g}, {c});')
        history_fields = [p for p in design.inputs if p.name not in clocks]
        fmt = " ".join("%b" for _ in history_fields)
        args = "".join(f", h_{p.name}[b % {HISTORY}]" for p in history_fields)
        add(f"          for (b = (tick > {HISTORY - 1} ? tick - {HISTORY - 1} : 0); b <= tick; b = b + 1)")
        add(f'            $display("{nonce} HIST {k} %0d {fmt}", b{args});')
        add(f"          failed{k} = 1; alive = alive - 1;")
        add("        end")
        add("      end")
        add("    end")
        add("  endtask")

    add("  initial begin")
    add(f"    seed = {plan.seed & 0x7FFFFFFF};")
    add(f"    alive = {len(plan.candidate_tops)};")
    for name in clocks:
        add(f"    i_{name} = 1'b0;")
    for p in data_inputs:
        add(f"    n_{p.name} = 0; m_{p.name} = 0;")
    for name in resets:
        add(f"    n_{name} = 0;")
    for k in range(len(plan.candidate_tops)):
        add(f"    failed{k} = 0;")
    add(f"    for (tick = 0; tick < {plan.ticks} && alive > 0; tick = tick + 1) begin")
    add("      #2 drive;")
    add("      #3;")
    for name, half, phase in clock_schedule:
        if half == 1:
            add(f"      i_{name} = ~i_{name};")
        else:
            add(f"      if (tick % {half} == {phase}) i_{name} = ~i_{name};")
    add("      #3;")
    for k in range(len(plan.candidate_tops)):
        add(f"      compare{k};")
    add("      #2;")
    add("    end")
    for k in range(len(plan.candidate_tops)):
        add(f'    if (!failed{k}) $display("{nonce} PASS {k} %0d", tick);')
    add(f'    $display("{nonce} END");')
    add("    $finish;")
    add("  end")
    add("endmodule")
    return "\n".join(lines) + "\n"
