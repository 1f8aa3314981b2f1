"""Chat requests for a pipeline stage: cached in the state store, concurrent, accounted.

:class:`LLMStage` sends a stage's requests through
:class:`benchmarks.generation.OpenAIChatGenerator` (async httpx, concurrency limit,
retries with backoff on timeouts, 408/429/5xx and connection errors). Before sending, each
request is looked up in the :class:`~trainers.synth.state.StateStore` by its content
key; only the missing ones go out, and each is stored the moment it finishes, so an
interrupted run loses nothing and a rerun asks nothing twice.

A request that fails for good (retries exhausted, a 4xx) drops its item with that
reason, and the failure is stored with the run it happened in. When
``max_consecutive_failures`` requests fail in a row the server is taken to be down: the
run stops (:class:`SynthInterrupted`). A failure is final (not asked again, unless
``retry_failed``) only if its run completed: failures of a run that was interrupted
(by that, by Ctrl-C, by a crash) may have been the server's, so the next run asks them
again. Finished requests are never asked again.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.generation import (
    Completion,
    GenerationRequest,
    OpenAIChatGenerator,
    Sampling,
)

from .config import LLMConfig
from .state import StateStore, content_key


class SynthInterrupted(RuntimeError):
    """The run stopped before the end (the server kept failing); rerun to resume."""


@dataclasses.dataclass
class LLMJob:
    item: str
    """What the request is for (a unit id); reported with results."""
    messages: list[dict[str, str]]
    n: int = 1


@dataclasses.dataclass
class LLMOutcome:
    status: str  # ok | error
    completions: list[dict[str, Any]]  # {text, finish_reason}
    usage: dict[str, Any]
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclasses.dataclass
class StageUsage:
    """Accounting of one stage: this run's traffic, and all runs' totals (from the store)."""

    stage: str
    model: str = ""
    jobs: int = 0
    cached: int = 0
    """Jobs answered from the state store (earlier runs)."""
    sent: int = 0
    """Requests this run (retries not counted)."""
    http_attempts: int = 0
    """HTTP requests this run, retries included."""
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_requests: int = 0
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    price_prompt: float = 0.0
    price_completion: float = 0.0

    @property
    def cost(self) -> float:
        return (self.prompt_tokens * self.price_prompt + self.completion_tokens * self.price_completion) / 1e6

    @property
    def total_cost(self) -> float:
        return (self.total_prompt_tokens * self.price_prompt
                + self.total_completion_tokens * self.price_completion) / 1e6

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(cost=self.cost, total_cost=self.total_cost)
        return d


def _usage_of(completions: Sequence[Completion]) -> dict[str, int]:
    usage = next((c.usage for c in completions if c.usage), None) or {}
    return {
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
    }


def _describe_error(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())[:500]


GeneratorFactory = Callable[[LLMConfig], Any]


def default_generator(config: LLMConfig) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(
        config.endpoint,
        config.model,
        api_key=os.environ.get(config.api_key_env) if config.api_key_env else None,
        concurrency=config.concurrency,
        timeout=config.timeout,
        max_retries=config.max_retries,
        backoff=config.backoff,
        extra_body=config.extra_body,
    )


class LLMStage:
    """Runs the requests of one stage against one endpoint."""

    def __init__(
        self,
        stage: str,
        config: LLMConfig,
        store: StateStore,
        *,
        max_consecutive_failures: int = 8,
        retry_failed: bool = False,
        progress: bool = True,
        generator_factory: GeneratorFactory | None = None,
    ):
        self.stage = stage
        self.config = config
        self.store = store
        self.max_consecutive_failures = max_consecutive_failures
        self.retry_failed = retry_failed
        self.progress = progress
        self.generator_factory = generator_factory or default_generator
        self.usage = StageUsage(stage, model=config.model, price_prompt=config.price_prompt,
                                price_completion=config.price_completion)

    def key(self, job: LLMJob) -> str:
        c = self.config
        return content_key(
            "chat", c.model, job.messages, job.n, c.temperature, c.top_p, c.max_tokens, c.seed, c.extra_body
        )

    def run(self, jobs: Sequence[LLMJob]) -> dict[str, LLMOutcome]:
        """Outcomes by job item (items must be unique)."""
        outcomes: dict[str, LLMOutcome] = {}
        pending: list[tuple[LLMJob, str]] = []
        self.usage.jobs += len(jobs)
        for job in jobs:
            key = self.key(job)
            stored = self.store.get_llm(key)
            final = stored is not None and (
                stored["status"] == "ok" or (not self.retry_failed and stored["run_outcome"] == "complete")
            )
            if final:
                outcomes[job.item] = LLMOutcome(stored["status"], stored["completions"], stored["usage"],
                                                stored["error"], cached=True)
                self.usage.cached += 1
            else:
                pending.append((job, key))
        if pending:
            if not self.config.endpoint:
                raise SynthInterrupted(f"{self.stage}: {len(pending)} requests to send but no endpoint is configured "
                                       f"(set {self.stage}.endpoint and {self.stage}.model)")
            self._send(pending, outcomes)
        totals = self.store.llm_totals(self.stage)
        self.usage.total_requests = totals["requests"]
        self.usage.total_prompt_tokens = totals["prompt_tokens"]
        self.usage.total_completion_tokens = totals["completion_tokens"]
        return outcomes

    def _send(self, pending: list[tuple[LLMJob, str]], outcomes: dict[str, LLMOutcome]) -> None:
        from tqdm.auto import tqdm

        generator = self.generator_factory(self.config)
        sampling = Sampling(self.config.temperature, self.config.top_p, self.config.max_tokens)
        requests = [GenerationRequest(job.messages, job.n, self.config.seed, key=index)
                    for index, (job, _) in enumerate(pending)]
        lock = threading.Lock()
        consecutive = [0]  # failures since the last success
        bar = tqdm(total=len(pending), desc=f"synth {self.stage}", unit="req", disable=not self.progress,
                   dynamic_ncols=True, leave=False)

        def on_result(request: GenerationRequest, completions: list[Completion]) -> None:
            job, key = pending[request.key]
            usage = _usage_of(completions)
            rows = [{"text": c.text, "finish_reason": c.finish_reason} for c in completions]
            with lock:
                self.store.put_llm(key, self.stage, job.item, "ok", rows, usage)
                outcomes[job.item] = LLMOutcome("ok", rows, usage)
                self.usage.sent += 1
                self.usage.prompt_tokens += usage["prompt_tokens"]
                self.usage.completion_tokens += usage["completion_tokens"]
                consecutive[0] = 0
                bar.update(1)

        def on_error(request: GenerationRequest, error: BaseException) -> None:
            job, key = pending[request.key]
            text = _describe_error(error)
            with lock:
                self.store.put_llm(key, self.stage, job.item, "error", error=text)
                outcomes[job.item] = LLMOutcome("error", [], {}, text)
                self.usage.sent += 1
                self.usage.errors += 1
                consecutive[0] += 1
                bar.update(1)
                if consecutive[0] >= self.max_consecutive_failures:
                    raise SynthInterrupted(
                        f"{self.stage}: {consecutive[0]} requests in a row failed (last: {text}); "
                        "stopping; rerun the same command to resume"
                    )

        try:
            generator.generate_requests(requests, sampling, on_result, on_error)
        finally:
            bar.close()
            self.usage.http_attempts += getattr(generator, "requests_sent", 0)
