"""Verification: the equivalence checker on (original, regenerated) pairs, with a cache.

Every pair goes through :func:`verilog_env.check_requests` with the run's one
:class:`verilog_env.CheckSettings` (``SynthConfig.check``: all cores; pairs sharing a
golden are simulated together; identical pairs are checked once; ``method: both`` adds
the formal proof). Verdicts are stored in the state store by a key of (golden,
candidate, top, the verdict-deciding settings, :data:`CHECKER_REVISION`), so a rerun
checks only new pairs, and a checker whose verdicts changed never reuses the old ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from verilog_env import CheckSettings

from .state import StateStore, content_key

CHECKER_REVISION = 2
"""Part of every verdict's cache key. Raise it when the checker's verdict on the same pair
changes, so stores written before do not hand back stale verdicts. 2: a golden whose
outputs are undefined (X) on nearly every tick is ``unsupported`` (it used to pass its
self-check, and such goldens reached the RL dataset)."""


@dataclasses.dataclass(frozen=True)
class Pair:
    golden: str
    candidate: str
    top: str


def cache_options(settings: CheckSettings) -> dict[str, Any]:
    """The settings a verdict depends on, as its cache key holds them: seed, cycles and
    timeout (the key of stores written before the settings were one value), plus the
    judge's fields when it is not plain simulation (``batch_size`` / ``isolate`` never
    change a verdict). ``seed: None`` keys as ``None``: each check draws a fresh seed,
    and a pair judged once is not judged again."""
    options: dict[str, Any] = {"seed": settings.seed, "cycles": settings.cycles, "timeout": settings.timeout}
    if settings.method != "sim":
        options.update(method=settings.method, formal_budget=settings.budget, formal_fallback=settings.formal_fallback)
    return options


def check_pairs(pairs: Sequence[Pair], store: StateStore, settings: CheckSettings, *,
                progress: bool = False) -> list[dict[str, Any]]:
    """One ``{"status", "reason", "cached"}`` per pair, in order."""
    from verilog_env import CheckRequest, check_requests

    options = cache_options(settings)
    keys = [content_key("verdict", p.golden, p.candidate, p.top, options, CHECKER_REVISION) for p in pairs]
    known = store.get_many("verdict", keys)
    todo: dict[str, Pair] = {}
    for key, pair in zip(keys, pairs):
        if key not in known and key not in todo:
            todo[key] = pair
    if todo:
        requests = [CheckRequest(p.golden, p.candidate, top=p.top, candidate_top=p.top) for p in todo.values()]
        verdicts = check_requests(requests, settings, progress=progress)
        fresh = {}
        for key, verdict in zip(todo, verdicts):
            reason = (verdict.reason or "").strip()
            fresh[key] = {"status": verdict.status.value, "reason": reason[:2000]}
        store.put_many("verdict", fresh)
        known.update(fresh)
    return [{**known[key], "cached": key not in todo} for key in keys]
