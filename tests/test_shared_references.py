"""Acceptance: every shared benchmark reference is equivalent to itself."""

from __future__ import annotations

import pytest

from shared_data import ICARUS_UNSUPPORTED, references
from verilog_env import CheckRequest, Status, check_requests

pytestmark = pytest.mark.shared


def test_every_reference_checks_equivalent_to_itself():
    refs = references()
    assert len(refs) == 341
    verdicts = check_requests(
        [CheckRequest(r.golden, r.as_candidate(), r.golden_top, r.candidate_top) for r in refs]
    )
    failures = []
    for ref, verdict in zip(refs, verdicts):
        if ref.key in ICARUS_UNSUPPORTED:
            assert verdict.status is Status.UNSUPPORTED, (ref.key, verdict.reason)
            assert "not yet supported" in verdict.reason  # Icarus 11: enum casts
        elif not verdict.equivalent:
            failures.append(f"{ref.key}: {verdict.summary()[:300]}")
    assert not failures, "\n".join(failures)


def test_references_check_equivalent_to_themselves_under_both_simulators():
    """Every tenth reference and the two Icarus 11 cannot compile, with simulator="both":
    each judged by every simulator that compiles it (``perf.verilator_report`` runs all 341:
    ``reports/verilator.json``)."""
    refs = [r for i, r in enumerate(references()) if i % 10 == 0 or r.key in ICARUS_UNSUPPORTED]
    verdicts = check_requests(
        [CheckRequest(r.golden, r.as_candidate(), r.golden_top, r.candidate_top) for r in refs], simulator="both"
    )
    failures = [f"{r.key}: {v.summary()[:300]}" for r, v in zip(refs, verdicts) if not v.equivalent]
    assert not failures, "\n".join(failures)
    for ref, verdict in zip(refs, verdicts):
        if ref.key in ICARUS_UNSUPPORTED:
            assert verdict.details["checked_by"] == ["verilator"], (ref.key, verdict.reason)
        else:
            assert "icarus" in verdict.details["checked_by"], (ref.key, verdict.reason)
    assert sum(v.details["checked_by"] == ["icarus", "verilator"] for v in verdicts) >= len(refs) - 6
