"""Access to the benchmark data beside the checkout (``../shared/benchmarks``).

Tests read VerilogEval v2 and RTLLM v1.1 exactly as upstream ships them, through the
manifest. Set ``VERILOG_ENV_SHARED`` to point elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_benchmarks() -> Path:
    root = Path(os.environ.get("VERILOG_ENV_SHARED", REPO.parent / "shared")) / "benchmarks"
    return root


@dataclasses.dataclass(frozen=True)
class Reference:
    suite: str
    id: str
    golden: str  # reference source text
    golden_top: str  # e.g. RefModule / verified_accu
    candidate_top: str  # e.g. TopModule / accu
    passes_own_testbench: bool
    entry: dict  # the raw manifest entry (paths relative to shared_benchmarks())

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.id}"

    def as_candidate(self, text: str | None = None) -> str:
        """``text`` (default: the golden) with its top module renamed as a solution names it."""
        return re.sub(rf"\b{re.escape(self.golden_top)}\b", self.candidate_top, text or self.golden)


@lru_cache(maxsize=1)
def references() -> tuple[Reference, ...]:
    root = shared_benchmarks()
    manifest = json.loads((root / "manifest.json").read_text())
    out = []
    for entry in manifest["problems"]:
        out.append(
            Reference(
                suite=entry["suite"],
                id=entry["id"],
                golden=(root / entry["files"]["reference"]).read_text(),
                golden_top=entry["reference_module"],
                candidate_top=entry["top_module"],
                passes_own_testbench=entry["reference_check"]["result"] == "pass",
                entry=entry,
            )
        )
    return tuple(out)


# References that Icarus Verilog 11 cannot compile (enum casts): the checker reports
# `unsupported` for them. Listed in README.md.
ICARUS_UNSUPPORTED = {
    "verilogeval_v2/spec-to-rtl/Prob151_review2015_fsm",
    "verilogeval_v2/spec-to-rtl/Prob156_review2015_fancytimer",
    "verilogeval_v2/code-complete/Prob151_review2015_fsm",
    "verilogeval_v2/code-complete/Prob156_review2015_fancytimer",
}
