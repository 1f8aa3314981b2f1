"""The data-synthesis tests' corpus and the fake models' script.

:func:`build_corpus` writes a small Verilog tree from the project's own starter problems
(each golden renamed from ``TopModule`` to its problem id) plus the cases every stage must
catch; :func:`script` is the rule list for ``tests/fake_openai_server.py`` (``/reset``
with ``{"script": ...}``): canned descriptions (``describer``), regenerations
(``reasoner``) and base-model samples (``base``).

What happens to each unit (the counts asserted in tests/test_synth.py follow from it):

=================  ===========================================================
corpus file        fate
=================  ===========================================================
core/*.v           11 starter goldens; see DESCRIBE / REGENERATE / BASE below
hier/pair.v        abs_diff8 (exact duplicate of starter's) + absdiff_pair (a
                   module with its submodule: kept to the end)
forks/counter.v    counter_mod10 reformatted, commented, renamed: exact duplicate
forks/popcount.v   popcount16 with one literal changed: near duplicate
misc/bidir.v       an inout port: dropped at intake
misc/tie.v         a constant output: trivial
misc/sink.v        no outputs
misc/defines.v     no module at all (corpus level)
misc/ve_copy.v     VerilogEval Prob038_count15's reference, renamed: contaminated code
misc/rtllm_copy.v  RTLLM v1.1 counter_12's reference, renamed: contaminated code
=================  ===========================================================
"""

from __future__ import annotations

import re
from pathlib import Path

from verilog_env import load_suite

STARTER = [
    "abs_diff8",
    "counter_mod10",
    "gray_counter4",
    "popcount16",
    "lfsr8",
    "sat_add8",
    "edge_detect_both",
    "pwm4",
    "decoder3to8_en",
    "seq110_mealy",
    "parity9_select",
]

VE_PROBLEM = "Prob038_count15"
VE_PROMPT_FOR_PWM4 = "Prob045_edgedetect2"  # pwm4's canned spec copies this benchmark prompt
RTLLM_PROBLEM = "counter_12"

PAIR = """module absdiff_pair (
    input  [7:0] a0,
    input  [7:0] b0,
    input  [7:0] a1,
    input  [7:0] b1,
    output [7:0] d0,
    output [7:0] d1,
    output       s0,
    output       s1
);
  abs_diff8 u0 (.a(a0), .b(b0), .d(d0), .swapped(s0));
  abs_diff8 u1 (.a(a1), .b(b1), .d(d1), .swapped(s1));
endmodule
"""

PAIR_SPEC = (
    "Implement a Verilog module named `absdiff_pair` that computes two 8-bit unsigned absolute "
    "differences at once.\n\nPorts (purely combinational):\n- input [7:0] a0, b0, a1, b1\n"
    "- output [7:0] d0: |a0 - b0|\n- output [7:0] d1: |a1 - b1|\n- output s0: 1 when a0 < b0\n"
    "- output s1: 1 when a1 < b1\n\nA helper module for one absolute difference may be used."
)

MISC = {
    "misc/bidir.v": """module bidir_buf (
    input        oe,
    input  [3:0] dout,
    inout  [3:0] pad,
    output [3:0] din
);
  assign pad = oe ? dout : 4'bzzzz;
  assign din = pad;
endmodule
""",
    "misc/tie.v": "// a tie-off cell\nmodule tie_hi (output y);\n  assign y = 1'b1;\nendmodule\n",
    "misc/sink.v": """module sink (
    input       clk,
    input [7:0] data
);
  reg [7:0] last;
  always @(posedge clk) last <= data;
endmodule
""",
    "misc/defines.v": "`define BUS_WIDTH 32\n`define ADDR_WIDTH 16\n",
}


def starter_problems() -> dict:
    suite = load_suite("starter")
    return {pid: suite.get(pid) for pid in STARTER}


def renamed(text: str, name: str) -> str:
    return re.sub(r"\bTopModule\b", name, text)


def golden(pid: str) -> str:
    return renamed(starter_problems()[pid].golden.strip() + "\n", pid)


def spec(pid: str) -> str:
    return renamed(starter_problems()[pid].spec.strip(), f"`{pid}`")


def build_corpus(root: Path, shared_benchmarks: Path) -> Path:
    """Write the corpus under ``root``; returns it."""
    for pid in STARTER:
        path = root / "core" / f"{pid}.v"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"// {pid}: from the starter suite\n{golden(pid)}", encoding="utf-8")
    (root / "hier").mkdir(parents=True, exist_ok=True)
    (root / "hier" / "pair.v").write_text(golden("abs_diff8") + "\n" + PAIR, encoding="utf-8")
    (root / "forks").mkdir(parents=True, exist_ok=True)
    counter = golden("counter_mod10").replace("counter_mod10", "decade_counter")
    counter = "/* forked copy */\n" + re.sub(r"\n\s*", "\n      ", counter).replace("else if", "else  if")
    (root / "forks" / "counter.v").write_text(counter, encoding="utf-8")
    popcount = golden("popcount16").replace("popcount16", "popcount16_v2").replace("count = 5'd0;", "count = 5'b0;")
    (root / "forks" / "popcount.v").write_text(popcount, encoding="utf-8")
    for rel, text in MISC.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    reference = (shared_benchmarks / "verilogeval_v2" / "spec-to-rtl" / f"{VE_PROBLEM}_ref.sv").read_text()
    (root / "misc" / "ve_copy.v").write_text(reference.replace("RefModule", "count15_copy"), encoding="utf-8")
    reference = (shared_benchmarks / "rtllm_v1_1" / RTLLM_PROBLEM / "reference.v").read_text()
    (root / "misc" / "rtllm_copy.v").write_text(
        reference.replace(f"verified_{RTLLM_PROBLEM}", "counter12_copy"), encoding="utf-8")
    return root


# --- the fake models ------------------------------------------------------------------------

def answer(code: str, reasoning: str = "Let me work through the spec.") -> dict:
    return {"text": f"<think>\n{reasoning}\n</think>\n<answer>\n```verilog\n{code.strip()}\n```\n</answer>"}


EQUIVALENT = {
    "abs_diff8": """module abs_diff8 (input [7:0] a, input [7:0] b, output [7:0] d, output swapped);
  wire lt = a < b;
  assign swapped = lt;
  assign d = lt ? b - a : a - b;
endmodule""",
    "popcount16": """module popcount16 (input [15:0] in, output reg [4:0] count, output majority);
  integer k;
  always @* begin
    count = 0;
    for (k = 0; k < 16; k = k + 1) count = count + in[k];
  end
  assign majority = (count >= 5'd9);
endmodule""",
    "decoder3to8_en": """module decoder3to8_en (input [2:0] a, input en, output [7:0] y);
  assign y = {8{en}} & (8'b1 << a);
endmodule""",
}

WRONG = {  # subtly wrong: looks right, is not
    "counter_mod10": lambda: golden("counter_mod10").replace("(q == 4'd9) ? 4'd0", "(q == 4'd8) ? 4'd0"),
    "abs_diff8": lambda: EQUIVALENT["abs_diff8"].replace("a < b", "a <= b"),
    "popcount16": lambda: EQUIVALENT["popcount16"].replace(">= 5'd9", ">= 5'd8"),
    "seq110_mealy": lambda: golden("seq110_mealy").replace("&& !din", "&& din"),
    "absdiff_pair": lambda: (PAIR + "\n" + EQUIVALENT["abs_diff8"]).replace(".swapped(s1)", ".swapped()"),
}

MALFORMED = {"text": "<think>\nThe counter is simple.\n</think>\nHere it is:\n```verilog\nmodule m; endmodule\n```"}
TRUNCATED = {"text": "<think>\nFirst, the parity of nine bits is", "finish_reason": "length"}
SLOW = {"text": "too late", "delay": 3.0}  # longer than the client's timeout: a timeout


def describe_rules(ve_prompt: str) -> list[dict]:
    rules = [{"name": "describe:absdiff_pair", "model": "describer", "match": "`absdiff_pair`",
              "responses": [{"text": PAIR_SPEC}]}]
    for pid in STARTER:
        if pid == "lfsr8":
            response = SLOW
        elif pid == "sat_add8":  # forgets the port is_signed
            response = {"text": re.sub(r"- input +is_signed[^\n]*\n", "", spec(pid)).replace("is_signed", "the mode")}
        elif pid == "pwm4":  # copies a benchmark's prompt
            response = {"text": ve_prompt + "\n\nName the module `pwm4`; ports clk, reset, duty, cnt and pwm_out."}
        else:
            response = {"text": "<think>\nI read the code.\n</think>\n" + spec(pid)}
        rules.append({"name": f"describe:{pid}", "model": "describer", "match": f"`{pid}`",
                      "responses": [response]})
    return rules


def regenerate_rules() -> list[dict]:
    fates = {
        "abs_diff8": answer(EQUIVALENT["abs_diff8"]),
        "counter_mod10": answer(WRONG["counter_mod10"]()),
        "gray_counter4": MALFORMED,
        "popcount16": answer(EQUIVALENT["popcount16"]),
        "edge_detect_both": SLOW,
        "decoder3to8_en": answer(EQUIVALENT["decoder3to8_en"]),
        "seq110_mealy": answer(golden("seq110_mealy"), "A Mealy machine with three states."),
        "parity9_select": TRUNCATED,
        "absdiff_pair": answer(PAIR + "\n" + EQUIVALENT["abs_diff8"], "Two instances of a helper."),
    }
    return [{"name": f"regenerate:{pid}", "model": "reasoner", "match": f"`{pid}`", "responses": [r]}
            for pid, r in fates.items()]


def base_rules() -> list[dict]:
    """The base model, two samples each (seeded 0: samples 0 and 1)."""
    samples = {
        "abs_diff8": [answer(WRONG["abs_diff8"]()), answer(EQUIVALENT["abs_diff8"])],  # solved
        "decoder3to8_en": [answer(EQUIVALENT["decoder3to8_en"]), MALFORMED],  # solved
        "popcount16": [answer(WRONG["popcount16"]()), MALFORMED],
        "seq110_mealy": [MALFORMED, answer(WRONG["seq110_mealy"]())],
        "absdiff_pair": [answer(WRONG["absdiff_pair"]()), answer(WRONG["absdiff_pair"]())],
    }
    return [{"name": f"base:{pid}", "model": "base", "match": f"`{pid}`", "responses": r}
            for pid, r in samples.items()]


def script(shared_benchmarks: Path) -> list[dict]:
    ve_prompt = (shared_benchmarks / "verilogeval_v2" / "spec-to-rtl" / f"{VE_PROMPT_FOR_PWM4}_prompt.txt").read_text()
    return describe_rules(ve_prompt.strip()) + regenerate_rules() + base_rules()
