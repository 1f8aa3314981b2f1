"""The reward service's request and response bodies, as pydantic models.

Requests are validated strictly (no coercion: ``"1"`` is not a number, ``1`` is not
``true``) and refuse unknown fields; :func:`parse` turns the first problem into the
service's one error shape, ``422 {"error": {"code": "invalid_request", "message":
"<where>: <what>"}}``. Response models document what the endpoints send (the endpoints
build them as plain dicts, serialised without NaN).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..reward import RewardConfig
from .errors import ApiError

_STRICT = ConfigDict(strict=True, extra="forbid")


class RewardRequest(BaseModel):
    """``POST /reward`` (OpenRLHF's remote reward contract): ``query[i]`` is the decoded
    prompt + response, ``prompts[i]`` its prompt (stripped from the query when present),
    ``labels[i]`` a problem id, golden source or JSON object (see
    :mod:`verilog_env.labels`)."""

    model_config = _STRICT

    query: list[str]
    prompts: list[str | None] | None = None
    labels: list[Any]

    @model_validator(mode="after")
    def _aligned(self) -> RewardRequest:
        n = len(self.query)
        for key in ("prompts", "labels"):
            value = getattr(self, key)
            if value is not None and len(value) != n:
                raise ValueError(f"'{key}' has {len(value)} entries but 'query' has {n}; they must match")
        return self


class RewardResponse(BaseModel):
    """``rewards`` and ``scores`` (the rewards clipped to [0, 1]), one per item, and
    ``extra_logs``: every key of :data:`verilog_env.service.LOG_KEYS`, one float per item."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class RewardOptions(BaseModel):
    """``config`` of ``POST /score``: the :class:`~verilog_env.reward.RewardConfig` fields
    to change for this request (the others keep the service's)."""

    model_config = _STRICT

    require_format: bool = None  # type: ignore[assignment] - unset: the service's
    format_penalty: float = Field(default=None, allow_inf_nan=False)  # type: ignore[assignment]
    partial_credit: bool = None  # type: ignore[assignment]
    think_prefilled: bool = None  # type: ignore[assignment]

    def apply(self, base: RewardConfig) -> RewardConfig:
        """``base`` with the fields given here (422 outside their documented range)."""
        try:
            return dataclasses.replace(base, **self.model_dump(exclude_unset=True))
        except ValueError as exc:  # RewardConfig's own validation
            raise ApiError(422, "invalid_request", str(exc).replace("RewardConfig.", "config.")) from None


class ScoreItem(BaseModel):
    """One answer of ``POST /score``: its response and the problem, by id or by golden."""

    model_config = _STRICT

    response: str
    problem_id: str | None = None
    golden: str | None = None
    top: str | None = None

    @model_validator(mode="after")
    def _names_a_problem(self) -> ScoreItem:
        if self.problem_id is None and self.golden is None:
            raise ValueError("needs 'problem_id' or 'golden'")
        return self

    def label(self) -> dict[str, Any]:
        """The label naming this item's problem (see :mod:`verilog_env.labels`)."""
        if self.problem_id is not None:
            return {"problem_id": self.problem_id}
        return {"golden": self.golden, "top": self.top}


class ScoreRequest(BaseModel):
    """``POST /score``: the native form."""

    model_config = _STRICT

    items: list[ScoreItem]
    config: RewardOptions | None = None


class ScoreResponse(BaseModel):
    """``results``: one :meth:`verilog_env.service.Outcome.info` per item (a label that
    names nothing gives ``status: "label_error"``, reward 0)."""

    results: list[dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code": "<snake_case>", "message": "<one line>"}}``."""

    error: ErrorDetail


M = TypeVar("M", bound=BaseModel)


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or :class:`ApiError` 422 naming the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        where = _where(tuple(first.get("loc", ())))
        raise ApiError(422, "invalid_request", f"{where}: {message}" if where else message) from None
