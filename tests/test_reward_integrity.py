"""Reward integrity, round 2 (issue 13): attacks a reward-hunting policy would try on the
checker, written as tests that failed on the checker before the fix.

Classes covered here (the benchmark scorer, the HTTP service, formal mode and suite checks
have test files of their own):

1. candidates sharing a simulation with the golden or with each other (upward
   hierarchical names, compilation-unit items, fixed instance names, poisoned records);
2. time, randomness and delays (designs right only at the sampling instant or inside the
   simulated window, and replaying the golden's outputs for a known stimulus);
3. (simulation side) every tick compared, Z compared as a value, one canonical text;
5. (checker side) goldens whose outputs are never defined.
"""

from __future__ import annotations

import dataclasses
import re

import gymnasium
import pytest

from verilog_env import (
    CheckRequest,
    CheckSettings,
    Status,
    check_equivalence,
    check_many,
    check_requests,
    score_many,
)
from verilog_env.equiv import prepare, testbench
from verilog_env.equiv.prepare import CheckOptions, analyze_golden
from verilog_env.equiv.simcheck import record_golden
from verilog_env.hdl.design import analyze
from verilog_env.hdl.source import canonical_text, parse
from verilog_env.problems import Problem

@pytest.fixture(autouse=True, params=["icarus", "verilator"])
def simulator(request, monkeypatch):
    """Every check of this file runs under each simulator: the settings every front door
    resolves (:func:`verilog_env.checking.resolve`) get ``simulator`` replaced."""
    from verilog_env import checking

    real = checking.resolve
    monkeypatch.setattr(checking, "resolve",
                        lambda settings, knobs: dataclasses.replace(real(settings, knobs), simulator=request.param))
    return request.param


ACC = """module TopModule(input clk, input rst, input [7:0] a, output reg [7:0] y);
  always @(posedge clk) if (rst) y <= 8'd0; else y <= y + a;
endmodule
"""
ACC_HEADER = "module TopModule(input clk, input rst, input [7:0] a, output [7:0] y);\n"


def not_equivalent(verdict) -> bool:
    return verdict.status is not Status.EQUIVALENT


# ============================================================ 1. shared simulations

# Each copies its outputs from the golden's (or a batch-mate's) instance: a module named
# like that instance makes pyslang resolve the name among the candidate's own modules,
# while the old testbench, with modules renamed, bound it to the golden (`u_gold`) or to
# candidate 0 or 1 (`u_cand0`, `u_cand1`) of the shared run.
def _copier(instance: str) -> str:
    return (ACC_HEADER + f"  {instance} inst();\n  assign y = inst.v;\nendmodule\n"
            f"module {instance}();\n  wire [7:0] y = 8'd0;\n  wire [7:0] v = {instance}.y;\nendmodule\n")


UPWARD_NAMES = {
    "module_named_like_golden_instance": _copier("u_gold"),
    "module_named_like_batch_mate": _copier("u_cand0"),
    "ancestor_module_named_like_golden_instance": ACC_HEADER + "  u_gold g(.y(y));\nendmodule\n"
    "module u_gold(output [7:0] y);\n  leaf l(.o(y));\n  wire [7:0] q = 8'd0;\nendmodule\n"
    "module leaf(output [7:0] o);\n  assign o = u_gold.q;\nendmodule\n",
    "instance_name_upward": ACC_HEADER + "  wire [7:0] y_own = 8'd0;\n  probe s();\n  assign y = s.v;\nendmodule\n"
    "module probe();\n  wire [7:0] y_own = 8'd1;\n  wire [7:0] v = s.y_own;\nendmodule\n",
    "function_found_upward": ACC_HEADER + "  function [7:0] peek(input [7:0] v); peek = v; endfunction\n"
    "  helper h(.a(a), .y(y));\nendmodule\nmodule helper(input [7:0] a, output [7:0] y);\n  assign y = peek(a);\nendmodule\n",
    "top_named_by_its_module": ACC_HEADER + "  wire [7:0] z = a;\n  assign y = TopModule.z;\nendmodule\n",
    "disable_upward": ACC_HEADER + "  reg [7:0] r;\n  always @(posedge clk) begin : blk r <= a; end\n"
    "  killer k(.clk(clk));\n  assign y = r;\nendmodule\n"
    "module killer(input clk);\n  always @(negedge clk) disable TopModule.blk;\nendmodule\n",
    "defparam_upward": ACC_HEADER + "  parameter P = 1;\n  setter s();\n  assign y = a + P;\nendmodule\n"
    "module setter();\n  defparam TopModule.P = 2;\nendmodule\n",
}


@pytest.mark.parametrize("candidate", [pytest.param(c, id=k) for k, c in UPWARD_NAMES.items()])
def test_upward_hierarchical_names_are_rejected(candidate):
    verdict = check_equivalence(ACC, candidate)
    assert verdict.status is Status.REJECTED, verdict.summary()
    assert "reaches outside the module that uses it" in verdict.reason


@pytest.mark.parametrize("target", [0, 1, 2])
def test_a_candidate_cannot_copy_a_batch_mate(target):
    """A copier of candidate ``target`` sits beside correct answers in one shared run."""
    candidates = [ACC, ACC, ACC]
    copier = (target + 1) % 3
    candidates[copier] = _copier(f"u_cand{target}")
    verdicts = check_many(ACC, candidates, isolate=False)
    assert verdicts[target].status is Status.EQUIVALENT
    assert not_equivalent(verdicts[copier]), verdicts[copier].summary()


DOWNWARD_REFERENCES = {
    "submodule_signal_and_defparam": "module add #(parameter K = 7) (input [7:0] x, output [7:0] s);\n"
    "  assign s = x + K;\nendmodule\n" + ACC_HEADER + "  wire [7:0] unused;\n  add u_add(.x(a), .s(unused));\n"
    "  defparam u_add.K = 0;\n  reg [7:0] r;\n  always @(posedge clk) if (rst) r <= 0; else r <= r + u_add.s;\n"
    "  assign y = r;\nendmodule\n",
    "generate_block_signal": ACC_HEADER + "  reg [7:0] r;\n  genvar i;\n  generate for (i = 0; i < 8; i = i + 1) "
    "begin : g\n    wire b = a[i];\n  end endgenerate\n  wire [7:0] bits = {g[7].b, g[6].b, g[5].b, g[4].b, "
    "g[3].b, g[2].b, g[1].b, g[0].b};\n  always @(posedge clk) if (rst) r <= 0; else r <= r + bits;\n"
    "  assign y = r;\nendmodule\n",
    "named_block_variable": ACC_HEADER + "  reg [7:0] r;\n  always @(posedge clk) begin : step\n"
    "    reg [7:0] next;\n    next = r + a;\n    if (rst) r <= 0; else r <= next;\n  end\n"
    "  wire [7:0] peek = step.next;\n  assign y = r;\nendmodule\n",
}


@pytest.mark.parametrize("candidate", [pytest.param(c, id=k) for k, c in DOWNWARD_REFERENCES.items()])
def test_downward_hierarchical_references_stay_allowed(candidate):
    assert check_equivalence(ACC, candidate).status is Status.EQUIVALENT


# Each copies the golden's output and also drives it (old testbench: instance u_gold),
# so it matched the golden it had changed, the record came out complete and was cached
# poisoned: correct answers checked later failed.
WRITES_INTO_THE_GOLDEN = [
    ACC_HEADER + "  u_gold inst(.clk(clk));\n  assign y = inst.v;\nendmodule\nmodule u_gold(input clk);\n"
    "  reg [7:0] y;\n  wire [7:0] v = u_gold.y;\n  always @(negedge clk) u_gold.y <= 8'd77;\nendmodule\n",
    ACC_HEADER + "  u_gold inst(.clk(clk));\n  assign y = inst.v;\nendmodule\nmodule u_gold(input clk);\n"
    "  reg [7:0] y;\n  wire [7:0] v = u_gold.y;\n  always @(posedge clk) u_gold.y <= 8'd5;\nendmodule\n",
    ACC_HEADER + "  u_gold inst(.clk(clk));\n  assign y = inst.v;\nendmodule\nmodule u_gold(input clk);\n"
    "  reg [7:0] y;\n  wire [7:0] v = u_gold.y;\n  always @(clk) u_gold.y = 8'd0;\nendmodule\n",
]


@pytest.mark.parametrize("attack", WRITES_INTO_THE_GOLDEN)
def test_writing_into_the_golden_poisons_nothing(attack):
    golden = ACC.replace("y + a", f"y + a + 8'd{WRITES_INTO_THE_GOLDEN.index(attack) + 3}")  # not yet recorded
    assert not_equivalent(check_equivalence(golden, attack, isolate=False))
    assert check_equivalence(golden, golden, isolate=False).status is Status.EQUIVALENT


COMB_INC = "module TopModule(input [7:0] a, output [7:0] y);\n  assign y = a + 8'd1;\nendmodule\n"
# The reader is wrong alone: its child reads an implicit net `leak`, undriven (z). In a
# simulator run shared with an answer declaring `leak` in the compilation-unit scope,
# the implicit net binds to that declaration instead, and the reader turns right.
_READER = ("module TopModule(input [7:0] a, output [7:0] y);\n  pick p(.i(leak), .a(a), .y(y));\nendmodule\n"
           "module pick(input {width}i, input [7:0] a, output [7:0] y);\n  assign y = (i === {one}) ? a + 8'd1 : a;\n"
           "endmodule\n")
UNIT_SCOPE_PAIRS = [
    ("logic leak = 1'b1;\n" + COMB_INC, _READER.format(width="", one="1'b1")),
    ("logic [7:0] leak = 8'd1;\n" + COMB_INC, _READER.format(width="[7:0] ", one="8'd1")),
    ("bit leak = 1;\ntypedef logic [7:0] byte_t;\n" + COMB_INC.replace("output [7:0] y", "output byte_t y"),
     _READER.format(width="", one="1'b1")),
]


@pytest.mark.parametrize("pair", UNIT_SCOPE_PAIRS)
def test_a_verdict_never_depends_on_its_batch(pair):
    declares, reader = pair
    alone = [check_equivalence(COMB_INC, c, isolate=False).status for c in pair]
    assert alone == [Status.EQUIVALENT, Status.MISMATCH]
    together = [v.status for v in check_many(COMB_INC, [declares, reader, COMB_INC], isolate=False)]
    assert together == alone + [Status.EQUIVALENT]


def test_testbench_names_are_derived_from_the_nonce():
    design = analyze(ACC, name="golden.v", role="golden")
    ports = prepare.stimulus_ports(design)
    texts = [testbench.candidate_testbench(design, [prepare.candidate_prefix(k, n) + "TopModule" for k in range(2)],
                                           ports, 10, 0, n) for n in ("0123456789abcdef", "fedcba9876543210")]
    for text, nonce in zip(texts, ("0123456789abcdef", "fedcba9876543210")):
        instances = re.findall(r"^\s+(\w+) (\w+) \(", text, re.MULTILINE)
        assert instances and all(nonce in module and nonce in name for module, name in instances), instances
        assert "u_gold" not in text and "u_cand" not in text
    golden_tb = testbench.golden_testbench(design, "vlenv_g_TopModule", ports, 10, 0, "00112233aabbccdd")
    assert re.search(r"vlenv_g_TopModule \w*00112233aabbccdd\w* \(", golden_tb)


def test_the_golden_is_never_in_a_candidates_simulation(monkeypatch, simulator):
    """Every simulator run that compiles a candidate compiles no golden text, and every
    record of the golden comes from a run with the golden alone."""
    from verilog_env.sim import backend

    runs: list[set[str]] = []
    real_start = backend(simulator).start_compile

    def spy(workdir, files, top, limits, *rest):
        runs.append({(workdir / f).read_text() for f in files})
        return real_start(workdir, files, top, limits, *rest)

    monkeypatch.setattr(backend(simulator), "start_compile", spy)
    golden = ACC.replace("y + a", "y + a + 8'd57")  # recorded nowhere else in this process
    reference = analyze_golden(golden, None)
    verdicts = check_many(golden, [golden, ACC, golden.replace("8'd57", "8'd58")], isolate=False)
    assert [v.status for v in verdicts] == [Status.EQUIVALENT, Status.MISMATCH, Status.MISMATCH]
    with_golden = [texts for texts in runs if reference.text in texts]
    assert len(with_golden) == 1 and len(with_golden[0]) == 2  # the golden and its recording testbench
    assert len(runs) == 2  # and one run shared by the three candidates (modules alone)
    assert all("MISMATCH" not in text for text in with_golden[0])


# ============================================================ 2. time, randomness, delays

COMB = "module TopModule(input [7:0] a, input [7:0] b, output [7:0] y);\n  assign y = a + b;\nendmodule\n"
COMB_HEADER = "module TopModule(input [7:0] a, input [7:0] b, output reg [7:0] y);\n"

TIME_AND_RANDOM = {
    # right only at the testbench's sampling instants (+4 ns of every 10 ns tick)
    "time_sampling_instant": COMB_HEADER + "  always @* y = ($time % 10 == 4) ? a + b : 8'd0;\n"
    "  always #1 y = ($time % 10 == 4) ? a + b : 8'd0;\nendmodule\n",
    # a time bomb outside the simulated window
    "stime_bomb": COMB_HEADER + "  always @* y = ($stime > 32'd50000000) ? a - b : a + b;\nendmodule\n",
    "realtime_bomb": COMB_HEADER + "  always @* y = ($realtime > 5.0e7) ? a - b : a + b;\nendmodule\n",
    "random_noise": COMB_HEADER + "  always @* y = a + b + ($random == 12345);\nendmodule\n",
    "urandom_noise": COMB_HEADER + "  always @* y = a + b + ($urandom_range(100000) == 7);\nendmodule\n",
}


@pytest.mark.parametrize("candidate", [pytest.param(c, id=k) for k, c in TIME_AND_RANDOM.items()])
def test_time_and_randomness_are_refused(candidate):
    verdict = check_equivalence(COMB, candidate)
    assert verdict.status is Status.REJECTED, verdict.summary()
    assert re.search(r"\$(time|stime|realtime|random|urandom\w*) is not allowed", verdict.reason)


DELAY_TRICKS = {
    # right at the sampling instant (+4 ns of every tick), wrong the rest of the time
    "right_only_when_sampled": COMB_HEADER + "  initial begin #3; forever begin y = a + b; #2 y = a - b; #8; end end\n"
    "endmodule\n",
    "right_only_when_sampled_nba": COMB_HEADER + "  initial begin #3.5; forever begin y <= a + b; #1 y <= 8'd0; #9; end "
    "end\nendmodule\n",
    # wrong only after the simulated window (a delayed initial block)
    "time_bomb_after_window": "module TopModule(input [7:0] a, input [7:0] b, output [7:0] y);\n"
    "  reg armed = 1'b0;\n  initial #50000000 armed = 1'b1;\n  assign y = armed ? a - b : a + b;\nendmodule\n",
    # a free-running oscillator as a time base
    "delay_oscillator": "module TopModule(input [7:0] a, input [7:0] b, output [7:0] y);\n"
    "  reg [31:0] n = 0;\n  always #5 n = n + 1;\n  assign y = (n > 32'd100000000) ? a - b : a + b;\nendmodule\n",
}


@pytest.mark.parametrize("candidate", [pytest.param(c, id=k) for k, c in DELAY_TRICKS.items()])
def test_delay_tricks_earn_nothing(candidate):
    """Delays get synthesis semantics (they are removed from what is simulated): a design
    whose correctness rests on them is judged without them."""
    verdict = check_equivalence(COMB, candidate)
    assert not_equivalent(verdict), verdict.summary()


NBA_DELAY_STYLE = [
    "module TopModule(input clk, input rst, input [7:0] a, output reg [7:0] y);\n"
    "  always @(posedge clk) if (rst) y <= #1 8'd0; else y <= #1 y + a;\nendmodule\n",
    "module TopModule(input clk, input rst, input [7:0] a, output reg [7:0] y);\n"
    "  always @(posedge clk) if (rst) y <= #(1) 8'd0; else y <= #2 y + a;\nendmodule\n",
    "`timescale 1ns/100ps\nmodule TopModule(input clk, input rst, input [7:0] a, output reg [7:0] y);\n"
    "  always @(posedge clk) y <= #0.5 rst ? 8'd0 : y + a;\nendmodule\n",
]


@pytest.mark.parametrize("candidate", NBA_DELAY_STYLE)
def test_nonblocking_delays_in_the_usual_style_stay_equivalent(candidate):
    assert check_equivalence(ACC, candidate).status is Status.EQUIVALENT


def _replaying_candidate(golden: str, seed: int) -> str:
    """A design that ignores its inputs and plays back the golden's outputs for the
    stimulus of ``seed``, indexed by a clock counter: right for that seed only."""
    options = CheckOptions(seed=seed)
    reference = analyze_golden(golden, None)
    trace = record_golden(reference, reference.stimulus(options), reference.ticks(options), options)
    rom = {}
    for tick, sample in enumerate(trace.samples):
        rom.setdefault((tick + 1) // 2, sample)
    lines = [f"    rom[{n}] = 8'b{value};" for n, value in sorted(rom.items())]
    return (
        ACC_HEADER + f"  reg [7:0] rom [0:{max(rom)}];\n  reg [15:0] n = 0;\n  initial begin\n"
        + "\n".join(lines) + "\n  end\n  always @(posedge clk) n <= n + 1;\n  assign y = rom[n];\nendmodule\n"
    )


def test_a_stimulus_replay_passes_a_fixed_seed_and_fails_a_varied_one():
    golden = ACC.replace("y + a", "y + a + 8'd9")
    replay = _replaying_candidate(golden, seed=0)
    # The hole a fixed seed leaves (documented): one stimulus, one table.
    assert check_equivalence(golden, replay, seed=0).status is Status.EQUIVALENT
    varied = [check_equivalence(golden, replay, seed=None) for _ in range(3)]
    assert all(v.status is Status.MISMATCH for v in varied)
    assert len({v.details["seed"] for v in varied}) == 3


def test_seed_none_varies_the_stimulus_per_call_and_records_it():
    requests = [CheckRequest(ACC, ACC)] * 2
    first, second = check_requests(requests, seed=None), check_requests(requests, seed=None)
    assert first[0].details["seed"] == first[1].details["seed"]  # one call, one stimulus
    assert first[0].details["seed"] != second[0].details["seed"]
    assert check_equivalence(ACC, ACC, seed=7).details["seed"] == 7
    problem = Problem(id="acc", spec="accumulate", golden=ACC)
    scores = [score_many([(problem, f"<think>.</think><answer>```verilog\n{ACC}```</answer>")], seed=None)[0]
              for _ in range(2)]
    assert scores[0].verdict.details["seed"] != scores[1].verdict.details["seed"]


def test_the_environment_draws_a_seed_per_episode_reproducibly():
    env = gymnasium.make("verilog_env/VerilogSpec-v0", suite="starter", check=CheckSettings(seed=None))
    seeds = []
    for episode in range(3):
        _, info = env.reset(seed=episode)
        problem = env.unwrapped.problem
        _, _, _, _, info = env.step(f"<think>.</think><answer>```verilog\n{problem.golden}```</answer>")
        assert info["correct"] and info["verdict"].details["seed"] == info["seed"]
        seeds.append(info["seed"])
    assert len(set(seeds)) == 3
    env.reset(seed=1)
    assert env.unwrapped.check_seed == seeds[1]
    fixed = gymnasium.make("verilog_env/VerilogSpec-v0", suite="starter")
    fixed.reset(seed=5)
    assert fixed.unwrapped.check_seed == 0


# ============================================================ 3. what is simulated

RESET_ASYNC = """module TopModule(input clk, input rst_n, input [7:0] a, output reg [7:0] y);
  always @(posedge clk or negedge rst_n) if (!rst_n) y <= 8'h5a; else y <= y + a;
endmodule
"""


@pytest.mark.parametrize("wrong_start", [
    # wrong only while the first reset is applied (ticks 0-2), right afterwards
    "  reg [1:0] n = 0;\n  always @(posedge clk) if (n != 2'd3) n <= n + 1;\n  assign y = n < 2 ? 8'h00 : r;\n",
    "  reg started = 0;\n  always @(posedge clk) started <= 1'b1;\n  assign y = started ? r : 8'hff;\n",
    "  assign y = rst_n ? r : 8'h5b;\n",
])
def test_every_tick_is_compared_from_the_first(wrong_start):
    candidate = ("module TopModule(input clk, input rst_n, input [7:0] a, output [7:0] y);\n  reg [7:0] r;\n"
                 "  always @(posedge clk or negedge rst_n) if (!rst_n) r <= 8'h5a; else r <= r + a;\n"
                 + wrong_start + "endmodule\n")
    verdict = check_equivalence(RESET_ASYNC, candidate)
    assert verdict.status is Status.MISMATCH, verdict.summary()
    assert verdict.counterexample.tick < 3


TRISTATE = "module TopModule(input en, input [3:0] a, output [3:0] y);\n  assign y = en ? a : 4'bzzzz;\nendmodule\n"


@pytest.mark.parametrize("simulator", ["icarus", "both"], indirect=True)  # X and Z: 4-state only
@pytest.mark.parametrize("candidate, expected", [
    ("  assign y = en ? a : 4'b0000;\n", Status.MISMATCH),  # never releases the bus
    ("  assign y = en ? a : 4'bxxxx;\n", Status.MISMATCH),
    ("  assign y = en ? a : 4'bzz00;\n", Status.MISMATCH),
    ("  assign y = {4{en}} & a | {4{~en}} & 4'bzzzz;\n", Status.MISMATCH),  # & with z gives x
    ("  bufif1 b[3:0] (y, a, en);\n", Status.EQUIVALENT),
])
def test_a_golden_z_is_compared_as_a_value(candidate, expected):
    text = "module TopModule(input en, input [3:0] a, output [3:0] y);\n" + candidate + "endmodule\n"
    verdict = check_equivalence(TRISTATE, text)
    assert verdict.status is expected, verdict.summary()
    if expected is Status.MISMATCH:
        assert "z" in verdict.counterexample.expected["y"]


@pytest.mark.parametrize("text, gone", [
    ("module m(input a, output y);\n  // synopsys translate_off\n  assign y = a;\n  // synopsys translate_on\nendmodule\n",
     "translate_off"),
    ("module m(input [1:0] s, output reg y);\n  always @* (* parallel_case, full_case *) case (s) 2'd0: y = 1; "
     "endcase\nendmodule\n", "parallel_case"),
    ("module m(input [1:0] s, output reg y);\n  always @* unique case (s) 2'd0: y = 1; default: y = 0; endcase\n"
     "endmodule\n", "unique"),
    ("module m(input [1:0] s, output reg y);\n  always @* priority if (s[0]) y = 1; else y = 0;\nendmodule\n",
     "priority"),
    ("module m(input a, output y);\n  assign #3 y = a; /* a comment */\nendmodule\n", "#3"),
])
def test_engines_read_one_canonical_text(text, gone):
    """What the simulator compiles and Yosys reads has no comments, attributes,
    unique/priority modifiers or delays, and keeps every line in place."""
    canonical = canonical_text(parse(text, "m.v"), "`timescale 1ns/1ps")
    assert gone not in canonical
    assert canonical.count("\n") == text.count("\n") + 1  # the timescale line


# ============================================================ 5. goldens that cannot judge

NEVER_DEFINED = {
    "counter_without_reset": "module TopModule(input clk, output reg [3:0] q);\n  always @(posedge clk) q <= q + 1;\n"
    "endmodule\n",
    "register_never_assigned": "module TopModule(input [3:0] a, output [3:0] y);\n  reg [3:0] r;\n  assign y = r & a | r;\n"
    "endmodule\n",
    "x_constant": "module TopModule(input [3:0] a, output [3:0] y);\n  assign y = 4'bxxxx;\nendmodule\n",
}


@pytest.mark.parametrize("simulator", ["icarus", "both"], indirect=True)  # X and Z: 4-state only
@pytest.mark.parametrize("golden", [pytest.param(g, id=k) for k, g in NEVER_DEFINED.items()])
def test_a_golden_that_never_defines_its_outputs_is_unsupported(golden):
    anything = re.sub(r"(always|assign).*\n", "", golden).replace("endmodule", "  assign {0} = 0;\nendmodule")
    anything = anything.format("q" if "output reg [3:0] q" in golden else "y").replace("output reg", "output")
    for verdict in (check_equivalence(golden, anything), check_equivalence(golden, golden)):
        assert verdict.status is Status.UNSUPPORTED, verdict.summary()
        assert "cannot tell right answers from wrong ones" in verdict.reason


@pytest.mark.parametrize("simulator", ["icarus", "both"], indirect=True)  # X and Z: 4-state only
def test_an_output_left_undefined_beside_defined_ones_is_reported():
    golden = ("module TopModule(input clk, input [3:0] a, output [3:0] s, output reg [3:0] q);\n"
              "  assign s = ~a;\n  always @(posedge clk) q <= q + a;\nendmodule\n")
    verdict = check_equivalence(golden, golden)
    assert verdict.status is Status.EQUIVALENT
    assert verdict.details["golden_undefined_outputs"] == ["q"]


def test_seed_random_reaches_the_cli_the_server_settings_and_the_openrlhf_reward(tmp_path, capsys):
    import json

    from verilog_env import cli
    from verilog_env.server import ServerConfig

    golden = tmp_path / "golden.v"
    golden.write_text(ACC)
    seeds = []
    for _ in range(2):
        assert cli.main(["check", str(golden), str(golden), "--seed", "random", "--json"]) == 0
        seeds.append(json.loads(capsys.readouterr().out)["details"]["seed"])
    assert seeds[0] != seeds[1]
    with pytest.raises(SystemExit):
        cli.main(["check", str(golden), str(golden), "--seed", "sometimes"])
    assert "expected an integer or 'random'" in capsys.readouterr().err
    assert ServerConfig(seed=None, warmup=False).check.seed is None
    from trainers.openrlhf.scoring import Settings  # no torch or OpenRLHF needed

    assert Settings.from_env({"VERILOG_REWARD_SEED": "random"}).seed is None
    assert Settings.from_env({"VERILOG_REWARD_SEED": "12"}).seed == 12


@pytest.mark.parametrize("text, alone", [
    (COMB_INC, False),
    ("`timescale 1ns/1ps\n" + COMB_INC, False),
    (COMB_INC + "module helper(input a, output y);\n  assign y = a;\nendmodule\n", False),
    ("localparam W = 8;\n" + COMB_INC, True),
    ("typedef logic [7:0] byte_t;\n" + COMB_INC, True),
    ("package p;\n  localparam W = 8;\nendpackage\n" + COMB_INC, True),
    ("function [7:0] f(input [7:0] v); f = v; endfunction\n" + COMB_INC, True),
])
def test_only_texts_made_of_modules_share_a_run(text, alone):
    design = analyze(text, name="candidate.v", role="candidate", preferred_top="TopModule")
    assert design.self_contained is not alone
