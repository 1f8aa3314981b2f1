"""Decontamination: keep benchmark problems out of the training data.

A unit is contaminated when its code has a Rouge-L F1 above ``threshold`` (CodeV-R1:
0.5) with the reference code of any benchmark problem, or its spec with any benchmark
prompt. The benchmarks are the evaluation suites of :mod:`benchmarks` (VerilogEval v2,
RTLLM, loaded with ``get_eval_suite(name).load(root)``) plus any extra problem files.

Rouge-L is computed as the ``rouge-score`` package computes it: its default tokenizer
(lower case, runs of ``[a-z0-9]``, no stemming) and ``F1 = 2PR / (P + R)`` with
``P = LCS / len(candidate)``, ``R = LCS / len(reference)``. The longest common
subsequence is computed bit-parallel (Allison & Dix 1986; Hyyrö 2004: one big-integer
add, or and subtract per candidate token), which gives the same length as the package's
dynamic-programming table in a small fraction of the time; the tests check both agree.
Reference problems whose bag-of-tokens bound ``2 * |A ∩ B| / (|A| + |B|)`` (an upper
bound of F1) cannot beat the best score so far are skipped, so the best match found is
exact.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenization (``rouge_score.tokenize.tokenize``, no stemmer)."""
    try:
        from rouge_score import tokenize
    except ImportError:  # the same rule, written out
        return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]
    return tokenize.tokenize(text, None)


def lcs_length(a: Sequence[str], b: Sequence[str], masks: dict[str, int] | None = None) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (bit-parallel over ``a``;
    ``masks``: :func:`match_masks` of ``a``, when precomputed)."""
    if not a or not b:
        return 0
    masks = masks if masks is not None else match_masks(a)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        m = masks.get(token)
        if m is None:
            continue
        u = v & m
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def match_masks(tokens: Sequence[str]) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def f_measure(lcs: int, candidate_len: int, reference_len: int) -> float:
    """rouge-score's Rouge-L F1 from an LCS length."""
    if not lcs or not candidate_len or not reference_len:
        return 0.0
    precision = lcs / candidate_len
    recall = lcs / reference_len
    return 2 * precision * recall / (precision + recall)


def rouge_l(candidate: str, reference: str) -> float:
    """Rouge-L F1 of two texts (what ``RougeScorer(['rougeL']).score(reference, candidate)``
    returns as ``fmeasure``)."""
    a, b = rouge_tokens(reference), rouge_tokens(candidate)
    return f_measure(lcs_length(a, b), len(b), len(a))


@dataclasses.dataclass(frozen=True)
class BenchmarkProblem:
    suite: str
    id: str
    prompt: str
    reference: str


@dataclasses.dataclass
class _Ref:
    key: str
    tokens: list[str]
    counts: Counter
    masks: dict[str, int]


class ContaminationIndex:
    """Benchmark prompts and reference codes, ready to be compared with."""

    def __init__(self, problems: Sequence[BenchmarkProblem]):
        self.problems = list(problems)
        self.refs: dict[str, list[_Ref]] = {"spec": [], "code": []}
        seen: set[tuple[str, str]] = set()
        for p in self.problems:
            for kind, text in (("spec", p.prompt), ("code", p.reference)):
                tokens = rouge_tokens(text or "")
                if not tokens or (kind, " ".join(tokens)) in seen:
                    continue
                seen.add((kind, " ".join(tokens)))
                self.refs[kind].append(_Ref(f"{p.suite}/{p.id}", tokens, Counter(tokens), match_masks(tokens)))

    def __len__(self) -> int:
        return len(self.problems)

    def best_match(self, text: str, kind: str) -> tuple[float, str | None]:
        """The highest Rouge-L F1 of ``text`` with a benchmark ``kind`` (spec or code), and
        which problem gave it."""
        tokens = rouge_tokens(text)
        if not tokens:
            return 0.0, None
        counts = Counter(tokens)
        n = len(tokens)
        bounds = []
        for ref in self.refs[kind]:
            small, large = (counts, ref.counts) if len(counts) < len(ref.counts) else (ref.counts, counts)
            common = sum(min(c, large.get(t, 0)) for t, c in small.items())
            bounds.append((2 * common / (n + len(ref.tokens)), ref))
        bounds.sort(key=lambda item: -item[0])
        best, best_key = 0.0, None
        for bound, ref in bounds:
            if bound <= best:
                break
            score = f_measure(lcs_length(ref.tokens, tokens, ref.masks), n, len(ref.tokens))
            if score > best:
                best, best_key = score, ref.key
        return best, best_key


def load_benchmarks(suites: Sequence[str], data: str | None = None, extra: Sequence[str] = ()) -> list[BenchmarkProblem]:
    """The problems of the named evaluation suites (and of extra suite files)."""
    out: list[BenchmarkProblem] = []
    if suites:
        import benchmarks.suites  # noqa: F401 - registers the built-in suites
        from benchmarks.registry import get_eval_suite

        for name in suites:
            try:
                suite = get_eval_suite(name)
            except KeyError as error:
                raise ValueError(error.args[0]) from None
            root = data if data is not None else getattr(suite, "default_data", None)
            if root is None:  # no decontam.data, no $VERILOG_ENV_BENCHMARKS, no ../shared: say how to get them
                raise ValueError(
                    f"decontam: no data for suite {name}; set decontam.data or $VERILOG_ENV_BENCHMARKS to the folder "
                    "holding verilogeval_v2/ and rtllm_v1_1/ (README: 'Benchmark data'), or remove the suite from "
                    "decontam.suites (decontam.suites=[] turns decontamination off)"
                )
            if not Path(str(root)).expanduser().exists():
                raise ValueError(
                    f"decontam: data for suite {name} not found at {root}; set decontam.data "
                    "(the folder holding verilogeval_v2/ and rtllm_v1_1/) or remove the suite from decontam.suites"
                )
            try:
                problems = suite.load(Path(str(root)).expanduser())
            except Exception as error:  # noqa: BLE001 - data layout problems
                raise ValueError(f"decontam: cannot load suite {name} from {root}: {error}") from None
            out += [BenchmarkProblem(name, p.id, p.prompt, p.reference) for p in problems]
    for path in extra:
        from verilog_env.suites import UncheckedGoldensWarning, load_suite

        with warnings.catch_warnings():  # these goldens are compared as text, never run
            warnings.simplefilter("ignore", UncheckedGoldensWarning)
            suite = load_suite(str(path))
        out += [BenchmarkProblem(suite.name, p.id, p.spec, p.golden) for p in suite]
    return out


_INDEX: ContaminationIndex | None = None  # set before worker processes fork


def _best_global(text: str, kind: str) -> tuple[float, str | None]:
    assert _INDEX is not None
    return _INDEX.best_match(text, kind)


def best_matches(index: ContaminationIndex, texts: Sequence[str], kind: str, *, workers: int = 0,
                 progress: bool = False, desc: str = "") -> list[tuple[float, str | None] | Any]:
    """:meth:`ContaminationIndex.best_match` of many texts, on every core."""
    from .intake import parallel_map

    global _INDEX
    _INDEX = index
    try:
        return parallel_map(_best_global, [(t, kind) for t in texts], workers=workers, timeout=600.0,
                            desc=desc, progress=progress)
    finally:
        _INDEX = None
