"""Generation back ends: chat messages in, ``n`` sampled completions per prompt out.

Three back ends share one small protocol (:class:`Generator`):

* :class:`OpenAIChatGenerator`: any OpenAI-compatible HTTP server (what ``vllm serve``
  exposes): ``POST {base}/v1/chat/completions`` with ``n``, ``temperature``, ``top_p``,
  ``max_tokens`` and ``seed``; asynchronous (httpx), with a concurrency limit, retries with
  exponential backoff on 408/429/5xx and connection errors, and per-request timeouts.
* :class:`VLLMGenerator`: vLLM's offline ``LLM.chat`` (optional; imported lazily).
* :class:`HFGenerator`: Hugging Face transformers ``generate`` (optional; for small local
  models).

The harness calls :meth:`Generator.generate_requests` with :class:`GenerationRequest`
objects (messages, how many samples, a seed) and an ``on_result`` callback that receives
each request's completions as soon as they exist, so results can be written to disk
request by request. :meth:`Generator.generate` is the plain form:
``generate(messages_list, n, temperature, top_p, max_tokens, seed) -> [[Completion]]``.

Defaults follow the CodeV-R1 evaluation protocol: 20 samples, temperature 0.6, top-p
0.95, up to 16,384 new tokens.

Answers are extracted by :func:`extract_code`: the last ```verilog block of the
``<answer>`` (as the RL reward does), falling back to the last block of the whole text
(benchmarks do not require the format; whether it held is recorded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from verilog_env.extras import require_extra
from verilog_env.reward import code_block, parse_response

DEFAULT_N = 20
DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.95
DEFAULT_MAX_TOKENS = 16384


class GenerationError(RuntimeError):
    """A back end could not produce completions (server unreachable, request refused...)."""


@dataclasses.dataclass(frozen=True)
class Completion:
    """One sampled completion. ``tokens``: generated tokens when the back end says
    (``None`` otherwise: an OpenAI server reports usage per request, not per choice).
    ``usage``: the ``usage`` object the server reported for the whole response this
    completion came in (``prompt_tokens``, ``completion_tokens``...), shared by the
    response's choices: count it once per response. ``None`` when the back end has none;
    it takes no part in comparisons."""

    text: str
    finish_reason: str | None = None
    tokens: int | None = None
    usage: dict[str, Any] | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class Sampling:
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """``n`` samples of one conversation. ``seed``: the request's sampling seed (``None``:
    unseeded). ``key`` is opaque to the back end and handed back to ``on_result``."""

    messages: Sequence[dict[str, str]]
    n: int
    seed: int | None = None
    key: Any = None


OnResult = Callable[[GenerationRequest, list[Completion]], None]
OnError = Callable[[GenerationRequest, BaseException], None]


@runtime_checkable
class Generator(Protocol):
    """A generation back end.

    ``max_n_per_request``: the most samples one request may ask for (``None``: no cap);
    callers that track sample indices split larger requests themselves (see
    :func:`split_n`), and back ends split any that still exceed it.
    """

    name: str
    max_n_per_request: int | None

    def generate_requests(
        self, requests: Sequence[GenerationRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[list[Completion]]: ...

    def generate(
        self,
        messages_list: Sequence[Sequence[dict[str, str]]],
        n: int = DEFAULT_N,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int | None = None,
    ) -> list[list[Completion]]: ...


def split_n(n: int, cap: int | None) -> list[tuple[int, int]]:
    """``(offset, count)`` chunks covering ``n`` samples, each at most ``cap``."""
    if n <= 0:
        return []
    if not cap or cap >= n:
        return [(0, n)]
    return [(start, min(cap, n - start)) for start in range(0, n, cap)]


def _sub_seed(seed: int | None, offset: int) -> int | None:
    return None if seed is None else seed + offset


class BaseGenerator:
    """Shared plumbing: :meth:`generate` on top of :meth:`generate_requests`."""

    name = "base"
    max_n_per_request: int | None = None

    def generate_requests(
        self, requests: Sequence[GenerationRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[list[Completion]]:
        raise NotImplementedError

    def generate(
        self,
        messages_list: Sequence[Sequence[dict[str, str]]],
        n: int = DEFAULT_N,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions of each conversation, in order. With a ``seed``, prompt
        ``i``'s request is seeded ``seed`` (chunks split off it ``seed + offset``)."""
        requests = [GenerationRequest(list(m), n, seed, key=i) for i, m in enumerate(messages_list)]
        return self.generate_requests(requests, Sampling(temperature, top_p, max_tokens))

    def _chunks(self, requests: Sequence[GenerationRequest]) -> list[tuple[int, GenerationRequest]]:
        """``(request index, sub-request)`` pairs obeying ``max_n_per_request``."""
        out = []
        for i, request in enumerate(requests):
            for offset, count in split_n(request.n, self.max_n_per_request):
                out.append((i, dataclasses.replace(request, n=count, seed=_sub_seed(request.seed, offset))))
        return out


# ---------------------------------------------------------------- OpenAI-compatible HTTP

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def chat_completions_url(endpoint: str) -> str:
    """``http://host:8000``, ``.../v1`` or ``.../v1/chat/completions`` -> the chat URL."""
    base = endpoint.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def models_url(endpoint: str) -> str:
    url = chat_completions_url(endpoint)
    return url[: -len("/chat/completions")] + "/models"


def _choice_text(message: dict[str, Any] | None) -> str:
    """A choice's text. A server running a reasoning parser (``vllm serve
    --reasoning-parser ...``) returns the reasoning apart: it is put back between
    ``<think>`` tags, as the model wrote it."""
    message = message or {}
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning and "<think>" not in content:
        return f"<think>\n{reasoning}\n</think>\n{content}"
    return content


class OpenAIChatGenerator(BaseGenerator):
    """Chat completions from an OpenAI-compatible server (e.g. ``vllm serve``).

    endpoint: the server's base URL (``http://localhost:8000``, with or without ``/v1``).
    api_key: sent as a bearer token; default ``$OPENAI_API_KEY`` (none when unset).
    concurrency: requests in flight at once.
    max_n_per_request: split requests asking for more samples (servers may cap ``n``).
    timeout: seconds for one request (n 16K-token completions, queued behind others on a
        busy server, can take an hour).
    max_retries / backoff / max_backoff: a request failing with 408/429/5xx or a
        connection error is retried after ``backoff * 2**attempt`` seconds (with jitter,
        capped at ``max_backoff``; a ``Retry-After`` header wins), ``max_retries`` times.
    extra_body: extra JSON fields for every request (e.g. ``{"top_k": -1}``).

    A request that fails for good (other 4xx, retries exhausted) stops the run: requests
    not yet sent are dropped, those in flight finish (and reach ``on_result``), then
    :class:`GenerationError` is raised. Unless ``on_error`` is given to
    :meth:`generate_requests`: then each such request is reported to
    ``on_error(request, error)`` and the others go on (its result is an empty list);
    should ``on_error`` itself raise, the run stops as above and that exception is raised.
    Each completion carries the response's ``usage`` (see :class:`Completion`).
    """

    name = "openai"

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 64,
        max_n_per_request: int | None = None,
        timeout: float = 10800.0,
        connect_timeout: float = 10.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        extra_body: dict[str, Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        require_extra("httpx", "bench", "the openai back end")  # imported where it is used
        self.endpoint = endpoint
        self.url = chat_completions_url(endpoint)
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = concurrency
        self.max_n_per_request = max_n_per_request
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.extra_body = dict(extra_body or {})
        self.requests_sent = 0  # HTTP attempts, retries included

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def payload(self, request: GenerationRequest, sampling: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "n": request.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(self.extra_body)
        return body

    def list_models(self, timeout: float = 10.0) -> list[str]:
        """The served model ids (``GET /v1/models``). Raises :class:`GenerationError`
        when the server cannot be reached or refuses."""
        import httpx

        try:
            response = httpx.get(models_url(self.endpoint), headers=self._headers(), timeout=timeout)
        except httpx.HTTPError as error:
            raise GenerationError(f"cannot reach {self.endpoint}: {_describe(error)}") from None
        if response.status_code in (401, 403):
            raise GenerationError(f"{self.endpoint} refused the API key (HTTP {response.status_code}); set --api-key or OPENAI_API_KEY")
        if response.status_code == 404:  # a server without the model list: nothing to check
            return []
        if response.status_code >= 400:
            raise GenerationError(f"{models_url(self.endpoint)} answered HTTP {response.status_code}")
        try:
            return [m["id"] for m in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise GenerationError(f"{models_url(self.endpoint)} did not answer an OpenAI model list") from None

    def _delay(self, attempt: int, response: Any = None) -> float:
        if response is not None:
            after = response.headers.get("retry-after")
            try:
                if after is not None:
                    return min(max(0.0, float(after)), self.max_backoff)
            except ValueError:
                pass
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        return delay * (0.5 + random.random() / 2)

    async def _post(self, client: Any, request: GenerationRequest, sampling: Sampling) -> list[Completion]:
        import httpx

        body = self.payload(request, sampling)
        last = ""
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                self.requests_sent += 1
                response = await client.post(self.url, json=body)
            except httpx.HTTPError as error:  # connection refused/reset, timeouts
                last = _describe(error)
            else:
                if response.status_code == 200:
                    return self._parse(response, request)
                text = response.text[:300].replace("\n", " ")
                last = f"HTTP {response.status_code}: {text}"
                if response.status_code not in RETRY_STATUS:
                    raise GenerationError(f"{self.url} refused a request ({last})")
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, response))
        raise GenerationError(f"{self.url}: request failed after {self.max_retries + 1} attempts ({last})")

    def _parse(self, response: Any, request: GenerationRequest) -> list[Completion]:
        try:
            data = response.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        except (ValueError, KeyError, TypeError) as error:
            raise GenerationError(f"{self.url} answered something other than a chat completion ({error})") from None
        if len(choices) != request.n:
            raise GenerationError(
                f"{self.url} returned {len(choices)} choices for n={request.n}; "
                "if the server caps n, pass --max-n-per-request"
            )
        usage = data.get("usage") or {}
        tokens = usage.get("completion_tokens") if request.n == 1 else None
        shared = dict(usage) if isinstance(usage, dict) and usage else None
        return [Completion(_choice_text(c.get("message")), c.get("finish_reason"), tokens, shared) for c in choices]

    async def agenerate_requests(
        self,
        requests: Sequence[GenerationRequest],
        sampling: Sampling,
        on_result: OnResult | None = None,
        on_error: OnError | None = None,
    ) -> list[list[Completion]]:
        import httpx

        chunks = self._chunks(requests)
        results: list[list[list[Completion] | None]] = [[] for _ in requests]
        slots: list[int] = []
        for i, _ in chunks:
            slots.append(len(results[i]))
            results[i].append(None)
        semaphore = asyncio.Semaphore(self.concurrency)
        failures: list[BaseException] = []
        stops: list[BaseException] = []  # raised by on_error: re-raised as they are
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)

        async with httpx.AsyncClient(headers=self._headers(), timeout=timeout, limits=limits) as client:

            async def one(j: int) -> None:
                i, sub = chunks[j]
                async with semaphore:
                    if failures:  # stop sending once a request failed for good
                        return
                    try:
                        completions = await self._post(client, sub, sampling)
                    except Exception as error:  # noqa: BLE001 - reported after the others finish
                        if on_error is None:
                            failures.append(error)
                            return
                        try:  # the caller decides: note it and go on, or raise to stop
                            on_error(requests[i], error)
                        except Exception as stop:  # noqa: BLE001 - stops the run like a failure
                            failures.append(stop)
                            stops.append(stop)
                        return
                results[i][slots[j]] = completions
                if on_result is not None:
                    on_result(requests[i], completions)

            await asyncio.gather(*(one(j) for j in range(len(chunks))))
        if failures:
            first = failures[0]
            if isinstance(first, GenerationError) or any(first is stop for stop in stops):
                raise first
            raise GenerationError(f"generation failed: {first!r}") from first
        return [[c for part in parts for c in (part or [])] for parts in results]

    def generate_requests(
        self,
        requests: Sequence[GenerationRequest],
        sampling: Sampling,
        on_result: OnResult | None = None,
        on_error: OnError | None = None,
    ) -> list[list[Completion]]:
        coroutine = self.agenerate_requests(requests, sampling, on_result, on_error)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        # Called from inside an event loop (e.g. a notebook): run in a helper thread.
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(coroutine)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller
                box["error"] = error

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text


# ---------------------------------------------------------------- vLLM offline


class VLLMGenerator(BaseGenerator):
    """vLLM's offline engine: ``LLM(model).chat(conversations, SamplingParams(...))``.

    The engine is built on first use. Requests go to vLLM ``batch_requests`` prompts at a
    time (``on_result`` is called after each batch), so an interrupted run keeps the
    finished batches. ``llm_kwargs`` go to ``vllm.LLM`` (``tensor_parallel_size``,
    ``max_model_len``, ``gpu_memory_utilization``...).
    """

    name = "vllm"

    def __init__(self, model: str, *, batch_requests: int = 256, max_n_per_request: int | None = None, **llm_kwargs: Any):
        # vllm.LLM's own module, not just the package: a vLLM installed without its
        # dependencies imports as a package and fails only here (No module named 'llguidance').
        require_extra("vllm.entrypoints.llm", "bench-vllm", "the vllm back end (a CUDA machine)")
        self.model = model
        self.batch_requests = max(1, batch_requests)
        self.max_n_per_request = max_n_per_request
        self.llm_kwargs = llm_kwargs
        self._llm = None

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(model=self.model, **self.llm_kwargs)
        return self._llm

    def generate_requests(
        self, requests: Sequence[GenerationRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        chunks = self._chunks(requests)
        results: list[list[Completion]] = [[] for _ in requests]
        for start in range(0, len(chunks), self.batch_requests):
            batch = chunks[start : start + self.batch_requests]
            params = [
                SamplingParams(
                    n=sub.n,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=sampling.max_tokens,
                    seed=sub.seed,
                )
                for _, sub in batch
            ]
            outputs = self.llm.chat([list(sub.messages) for _, sub in batch], params, use_tqdm=False)
            for (i, sub), output in zip(batch, outputs):
                completions = [Completion(o.text, o.finish_reason, len(o.token_ids)) for o in output.outputs]
                results[i].extend(completions)
                if on_result is not None:
                    on_result(requests[i], completions)
        return results


# ---------------------------------------------------------------- Hugging Face transformers


class HFGenerator(BaseGenerator):
    """Local generation with Hugging Face transformers (small models, tests, CPUs).

    ``model``: a hub id or local directory (or an already loaded model, with
    ``tokenizer``). Each request is one ``model.generate`` call with
    ``num_return_sequences`` (at most ``max_n_per_request`` at a time) after
    ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``. Sampling is on when
    the temperature is above 0; a request's seed seeds torch before its call.
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        *,
        tokenizer: Any = None,
        device: str | None = None,
        dtype: str = "auto",
        max_n_per_request: int | None = 8,
        trust_remote_code: bool = False,
    ) -> None:
        for package in ("torch", "transformers"):
            require_extra(package, "train", "the hf back end")
        self.model_name = model if isinstance(model, str) else type(model).__name__
        self._model = None if isinstance(model, str) else model
        self._tokenizer = tokenizer
        self.model_id = model
        self.device = device
        self.dtype = dtype
        self.max_n_per_request = max_n_per_request
        self.trust_remote_code = trust_remote_code

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._tokenizer is None:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_id, trust_remote_code=self.trust_remote_code)
        if self._model is None:
            self._model = AutoModelForCausalLM.from_pretrained(
                self.model_id, dtype=self.dtype, trust_remote_code=self.trust_remote_code
            )
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model.to(device)
        elif self.device:
            self._model.to(self.device)
        self._model.eval()
        return self._model, self._tokenizer

    def generate_requests(
        self, requests: Sequence[GenerationRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[list[Completion]]:
        import torch

        model, tokenizer = self._load()
        device = next(model.parameters()).device
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos_ids), 0)
        results: list[list[Completion]] = [[] for _ in requests]
        for i, sub in self._chunks(requests):
            inputs = tokenizer.apply_chat_template(
                list(sub.messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            inputs = {k: v.to(device) for k, v in inputs.items()}
            if sub.seed is not None:
                torch.manual_seed(sub.seed)
            sample = sampling.temperature > 0
            kwargs: dict[str, Any] = {"do_sample": sample, "max_new_tokens": sampling.max_tokens, "pad_token_id": pad}
            if sample:
                kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
            with torch.no_grad():
                output = model.generate(**inputs, num_return_sequences=sub.n, **kwargs)
            prompt_len = inputs["input_ids"].shape[1]
            completions = []
            for row in output[:, prompt_len:].tolist():
                stop = next((j for j, t in enumerate(row) if t in eos_ids), None)
                kept = row if stop is None else row[:stop]
                text = tokenizer.decode(kept, skip_special_tokens=True)
                completions.append(Completion(text, "length" if stop is None else "stop", len(kept) + (stop is not None)))
            results[i].extend(completions)
            if on_result is not None:
                on_result(requests[i], completions)
        return results


# ---------------------------------------------------------------- answer extraction

_MODULE = re.compile(r"\bmodule\b")
_BARE = re.compile(r"\bmodule\b.*\bendmodule\b", re.DOTALL)
_TAGS = re.compile(r"</?(?:think|answer)>")


@dataclasses.dataclass(frozen=True)
class Extracted:
    """What :func:`extract_code` found. ``source``: where the code came from: ``answer``
    (the last Verilog block of the ``<answer>``), ``text`` (the last block of the whole
    response), ``bare`` (unfenced ``module ... endmodule`` after the reasoning), or
    ``None`` (no code)."""

    code: str | None
    format_ok: bool
    source: str | None


def with_header(code: str | None, header: str | None) -> str | None:
    """For completion tasks: an answer without a ``module`` (the body only) gets the
    problem's module header prepended (as :func:`verilog_env.reward.candidate_code`)."""
    if code and header and not _MODULE.search(code):
        return f"{header.rstrip()}\n{code}"
    return code


def extract_code(text: str | None, header: str | None = None, *, think_prefilled: bool = False) -> Extracted:
    """The Verilog to score in a response: see :class:`Extracted`."""
    if not isinstance(text, str):
        return Extracted(None, False, None)
    parsed = parse_response(text, think_prefilled=think_prefilled)
    code, source = parsed.code, "answer" if parsed.answer is not None else "text"
    if code is None and parsed.answer is not None:
        # The reward's parser on the whole response, reasoning included (scoring is lenient
        # where the reward is not), with the tags on lines of their own so that a fence
        # right after one ("<think>" then the backticks) starts a line.
        code, source = code_block(_TAGS.sub("\n", text)), "text"
    if code is None:
        tail = text.rsplit("</think>", 1)[-1]
        match = _BARE.search(tail)
        code, source = (match.group(0).strip(), "bare") if match else (None, None)
    return Extracted(with_header(code, header), parsed.format_ok, source)
