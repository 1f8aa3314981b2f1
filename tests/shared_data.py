"""Access to the benchmark data beside the checkout (``../shared/benchmarks``).

Tests read VerilogEval v2 and RTLLM v1.1 exactly as upstream ships them, through the suites'
loaders (:func:`benchmarks.references.load_references`). Set ``VERILOG_ENV_BENCHMARKS`` to
point elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from benchmarks.official import default_data_root
from benchmarks.references import Reference, load_references

REPO = Path(__file__).resolve().parents[1]

__all__ = ["ICARUS_UNSUPPORTED", "REPO", "Reference", "references", "shared_benchmarks"]


def shared_benchmarks() -> Path:
    """``$VERILOG_ENV_BENCHMARKS``, else ``../shared/benchmarks`` (from here or beside the checkout)."""
    return Path(default_data_root() or REPO.parent / "shared" / "benchmarks")


@lru_cache(maxsize=1)
def references() -> tuple[Reference, ...]:
    return tuple(load_references(shared_benchmarks()))


# References that Icarus Verilog 11 cannot compile (enum casts): the checker reports
# `unsupported` for them. Listed in README.md.
ICARUS_UNSUPPORTED = {
    "verilogeval_v2/spec-to-rtl/Prob151_review2015_fsm",
    "verilogeval_v2/spec-to-rtl/Prob156_review2015_fancytimer",
    "verilogeval_v2/code-complete/Prob151_review2015_fsm",
    "verilogeval_v2/code-complete/Prob156_review2015_fancytimer",
}
