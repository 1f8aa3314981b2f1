"""The service's one error shape and its JSON responses.

Every error is ``{"error": {"code": "<snake_case>", "message": "<one line>"}}``; every
body is ASCII JSON without NaN (a non-finite number becomes ``null``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..service import one_line


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}
"""The ``code`` of errors raised by the framework itself (an unknown route, a wrong method)."""


def dumps(content: Any) -> bytes:
    """JSON bytes that are always valid: ASCII (lone surrogates escaped), no NaN."""
    try:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:  # NaN/inf somewhere: make it null
        return json.dumps(_finite(content), ensure_ascii=True, separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_response(content: Any, status: int = 200):
    from starlette.responses import Response

    return Response(dumps(content), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str):
    response = json_response({"error": {"code": code, "message": one_line(message)}}, status)
    if status == 408:  # the request was given up on: end its connection too (RFC 9110, 15.5.9)
        response.headers["connection"] = "close"
    return response
