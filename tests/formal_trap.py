"""The answer every "method=both reaches the reward" test scores: it passes random
simulation (2,000 vectors never hit its one wrong input) and formal refutes it.

Each path into the checker (env, server, OpenRLHF reward file and agent, the bundled
trainer's YAML, TRL and verl adapters) must score :data:`TRAP_RESPONSE` 1 with the
default ``CheckSettings()`` and 0 with ``CheckSettings(method="both")``, and
:data:`RIGHT_RESPONSE` 1 with both.
"""

from __future__ import annotations

import json

from verilog_env import CheckSettings, Problem

GOLDEN = """
module top(input [31:0] a, input [31:0] b, output [31:0] y);
  assign y = a + b;
endmodule
"""

WRONG_ON_ONE_VALUE = """
module top(input [31:0] a, input [31:0] b, output [31:0] y);
  assign y = (a == 32'hDEADBEEF) ? a - b : b + a;
endmodule
"""

PROBLEM = Problem(id="trap_adder32", spec="Output y = a + b for 32-bit inputs a and b.", golden=GOLDEN)


def answer(code: str) -> str:
    return f"<think>add the inputs</think><answer>```verilog\n{code.strip()}\n```</answer>"


TRAP_RESPONSE = answer(WRONG_ON_ONE_VALUE)
RIGHT_RESPONSE = answer(GOLDEN)
LABEL = json.dumps({"id": PROBLEM.id, "spec": PROBLEM.spec, "golden": GOLDEN})
"""A self-contained label (JSON object with the golden) for reward files that take one."""

BOTH = CheckSettings(method="both", formal_budget=8.0)
"""The proof-backed settings every path must honour."""
