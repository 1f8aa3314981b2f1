"""Official scoring as the evaluation runs it (threads, the exact and token caches, the
screen) agrees, sample by sample, with plain upstream scoring: each sample compiled and
simulated on its own by the benchmark's testbench, no cache, no screen, nothing shared.

Samples: the references of every 8th problem of each suite, a whitespace-and-comment
variant of each (the token cache answers those), and mutants of each (most fail).
"""

from __future__ import annotations

import copy

import pytest
from test_bench_suites import loaded

from benchmarks import get_eval_suite
from benchmarks.official import ScoreCache, reference_as_sample
from benchmarks.scoring import score_pairs
from verilog_env.testing.mutation import mutants

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("name", ["verilogeval-v2-spec-to-rtl", "rtllm-v1.1"])
def test_every_outcome_equals_plain_one_sample_at_a_time_scoring(name):
    suite = get_eval_suite(name)
    problems = [p for p in loaded(name)[::8] if p.id != "Prob144_conwaylife"]  # 5 s a run; covered by bench runs
    pairs = []
    for problem in problems:
        reference = reference_as_sample(problem)
        pairs += [(problem, reference), (problem, "// same tokens\n" + reference.replace("\n", "\n\n", 3))]
        pairs += [(problem, reference_as_sample(problem, m.text)) for m in mutants(problem.reference, seed=0, limit=3)]
    fresh = copy.copy(suite)
    fresh.cache = ScoreCache()  # its own caches, empty
    evaluated = score_pairs(fresh, pairs, progress=False)
    plain = copy.copy(suite)
    plain.cache_enabled = plain.screen_samples = plain.token_cache = False
    alone = [plain.run_official(problem, code).to_score() for problem, code in pairs]
    assert [(s.passed, s.outcome) for s in evaluated] == [(s.passed, s.outcome) for s in alone]
    assert sum(s.passed for s in alone) >= len(problems) and not all(s.passed for s in alone)
    assert any(s.seconds == 0.0 for s in evaluated)  # the caches answered some samples
