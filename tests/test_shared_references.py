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
