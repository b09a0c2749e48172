"""The gateway's error tree and its single mapping to HTTP problem+json and to JSON-RPC errors.

    GatewayError
     +-- InvalidRequest (400)           bad input; carries per-field problems
     |    +-- UnsupportedOnRuntime      a valid resource this runtime cannot run
     +-- Unauthenticated (401)          no or bad credentials; carries the WWW-Authenticate challenge
     +-- Forbidden (403)
     +-- NotFound (404)
     +-- RequestTimeout (408)           a request head or body arrived too slowly
     +-- Conflict (409)                 duplicate names, stale versions
     +-- PreconditionFailed (412)       If-Match names an older version
     +-- PayloadTooLarge (413)
     +-- UriTooLong (414)
     +-- TooManyRequests (429)          a per-user limit was reached
     |    +-- TooManyConnections        too many connections from one client address
     +-- HeadersTooLarge (431)
     +-- BackendError (502)             a store, runtime or upstream failed
     +-- Unavailable (503)              nothing ready to serve the request
     +-- ShuttingDown (503)             the gateway is draining
     +-- MissingExtra                   start-up only: a setting selects a backend whose extra is not installed

Services raise these; ``control`` and ``proxy`` turn them into responses through :func:`problem_body`
and :func:`jsonrpc_error_body`, never by hand. Both carry the request id, so a client can quote it.

What a backend said (a Redis address, a Cosmos status, a Kubernetes API message) is ``internal_detail``:
logged, never sent. :class:`BackendError` and :class:`Unavailable` answer clients with a generic
``detail`` unless the raiser gives a ``public`` one that is safe to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.request_context import current_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field: a JSON-pointer-like location and a sentence saying what is wrong."""

    field: str
    message: str


class GatewayError(Exception):
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        """What the client is told."""
        self.internal_detail = detail
        """What the log is told (the same, except for errors that wrap a backend's words)."""
        self.headers = headers or {}


class InvalidRequest(GatewayError):
    status = 400
    title = "Invalid request"

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or []


class UnsupportedOnRuntime(InvalidRequest):
    title = "Not supported by this runtime"


class Unauthenticated(GatewayError):
    status = 401
    title = "Authentication required"

    def __init__(self, detail: str, *, error_code: str | None = None) -> None:
        super().__init__(detail)
        self.error_code = error_code
        """OAuth error for the challenge: ``invalid_token`` for a bad token, None for a missing one."""


class Forbidden(GatewayError):
    status = 403
    title = "Forbidden"


class NotFound(GatewayError):
    status = 404
    title = "Not found"


class MethodNotAllowed(GatewayError):
    status = 405
    title = "Method not allowed"


class Conflict(GatewayError):
    status = 409
    title = "Conflict"


class PreconditionFailed(GatewayError):
    status = 412
    title = "Precondition failed"


class PayloadTooLarge(GatewayError):
    status = 413
    title = "Payload too large"


class _InternalDetail(GatewayError):
    """An error whose message may quote a backend: the client gets ``public`` (or a generic sentence)."""

    generic_detail = "A service the gateway depends on failed; the gateway's log has the details for this request id."

    def __init__(self, detail: str, *, public: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(public or self.generic_detail, headers=headers)
        self.internal_detail = detail
        self.args = (detail,)  # str(exc), tracebacks and pytest.raises(match=) see what happened


class RequestTimeout(GatewayError):
    status = 408
    title = "Request timeout"


class UriTooLong(GatewayError):
    status = 414
    title = "URI too long"


class TooManyRequests(GatewayError):
    status = 429
    title = "Too many requests"


class TooManyConnections(TooManyRequests):
    title = "Too many connections"


class HeadersTooLarge(GatewayError):
    status = 431
    title = "Request header fields too large"


class BackendError(_InternalDetail):
    status = 502
    title = "Backend error"


class Unavailable(_InternalDetail):
    status = 503
    title = "Service unavailable"
    generic_detail = "The gateway cannot serve this request right now; try again shortly."


class ShuttingDown(GatewayError):
    """503 while the gateway drains on SIGTERM; its own words, nothing of a backend's."""

    status = 503
    title = "Service unavailable"


class MissingExtra(GatewayError):
    """A setting selects a backend (Redis, Cosmos DB, Kubernetes, a trace exporter) whose optional dependencies
    are not installed. Raised while the app is built; the CLI prints the one-line message and exits."""

    title = "Missing optional dependency"

    def __init__(self, setting: str, extra: str) -> None:
        super().__init__(f"{setting} needs the {extra} extra: pip install 'mcp-gateway[{extra}]'")
        self.setting = setting
        self.extra = extra

    @staticmethod
    def explains(exc: ImportError, packages: tuple[str, ...]) -> bool:
        """True when ``exc`` is a module of ``packages`` (or a parent of one) that is not installed: the
        extra is missing. Any other import error is a bug or a broken install and should propagate."""
        missing = exc.name or ""
        return isinstance(exc, ModuleNotFoundError) and any(
            missing == p or missing.startswith(p + ".") or p.startswith(missing + ".") for p in packages
        )


@dataclass
class Problem:
    """RFC 9457 problem details."""

    status: int
    title: str
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    instance: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        body["detail"] = self.detail
        if self.instance:
            body["instance"] = self.instance
        request_id = current_request_id()
        if request_id:
            body["requestId"] = request_id
        if self.errors:
            body["errors"] = [{"field": p.field, "message": p.message} for p in self.errors]
        return body


def problem_for(error: GatewayError, instance: str | None = None) -> Problem:
    problems = error.problems if isinstance(error, InvalidRequest) else []
    return Problem(error.status, error.title, error.detail, problems, instance)


def problem_body(error: GatewayError, instance: str | None = None) -> dict[str, Any]:
    return problem_for(error, instance).to_json()


# JSON-RPC codes used on MCP paths. -32001 is what the MCP SDKs answer for an unknown session.
JSONRPC_SESSION_NOT_FOUND = -32001
JSONRPC_INVALID_REQUEST = -32600
JSONRPC_INTERNAL_ERROR = -32603
JSONRPC_SERVER_ERROR = -32000

_JSONRPC_CODE_BY_STATUS = {400: JSONRPC_INVALID_REQUEST, 404: JSONRPC_SESSION_NOT_FOUND, 500: JSONRPC_INTERNAL_ERROR}


def jsonrpc_error_body(error: GatewayError, request_id: Any = None) -> dict[str, Any]:
    """The JSON-RPC error object an MCP client expects in place of a result."""
    code = _JSONRPC_CODE_BY_STATUS.get(error.status, JSONRPC_SERVER_ERROR)
    body: dict[str, Any] = {"code": code, "message": error.detail}
    gateway_request_id = current_request_id()
    if gateway_request_id:
        body["data"] = {"requestId": gateway_request_id}
    return {"jsonrpc": "2.0", "id": request_id, "error": body}
