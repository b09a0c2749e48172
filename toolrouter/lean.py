"""The lean path: ``/mcp``'s hot requests answered without the SDK's per-request session machinery.

Why: through the SDK's streamable HTTP session manager a ``tools/call`` on ``/mcp`` cost the router 0.8-1.5 ms
of CPU, most of it in machinery a one-JSON-body answer does not need: memory streams and a task per request
(handshake era), the dispatcher, a pydantic model of every envelope, and the result validated and dumped
three times. The methods that carry the traffic (``tools/list``, ``tools/call``, ``resources/read``,
``prompts/get``) are answered here instead, in both protocol eras.

What stays the same: the handler is the one the SDK would call (the server's registered handler), behind the
same middleware (the SDK's OpenTelemetry span); params are checked by the SDK's own per-version validation;
the result is shaped by the SDK's rules (cache hints, the per-version result sieve, ``resultType`` and the
``serverInfo`` stamp in 2026-07-28); the session's idle clock is held while a request runs, as the SDK's
transport does. What is decided here is only *whether* a request is on the happy path: anything else (another
method, a notification or batch, a session that is unknown, foreign, not yet initialized or speaking another
version, a header the SDK would refuse, params its validation rejects, an oversized body) goes to the SDK with
its body replayed, so every refusal is the SDK's own, word for word.

Only ``/mcp``: it answers every POST with one JSON body, so nothing but the answer travels on a request there
(progress and log notifications have no wire; it declares no sampling, elicitation or roots). Virtual servers
stream what their adapters send during a request and stay on the SDK.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import pydantic_core
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.caching import apply_cache_hint
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.runner import modern_error_data
from mcp.server.streamable_http import CONTENT_TYPE_JSON, StreamableHTTPServerTransport, check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import (
    CORE_RESULT_TYPES,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    SERVER_INFO_META_KEY,
    CacheableResult,
    ErrorData,
)
from mcp_types import methods as _methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolrouter.identity import virtual_server_of
from toolrouter.relay import downstream_request
from toolrouter.sessions import OpenSessions
from toolrouter.upstream import downstream_session
from toolrouter.virtual_handlers import downstream_session_middleware

if TYPE_CHECKING:  # the composition root imports this module
    from toolrouter.app import RouterServer

logger = logging.getLogger(__name__)

HOT_METHODS = frozenset({"tools/list", "tools/call", "resources/read", "prompts/get"})
"""What the lean path answers; every other method goes to the SDK."""

_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_OK = 200


@dataclass(frozen=True, slots=True)
class _Exchange:
    """A request the lean path answers: its envelope, the protocol version it is served at, and (handshake era)
    the session's transport, whose idle clock it holds."""

    request_id: str | int
    method: str
    params: dict[str, Any] | None
    version: str
    session_id: str | None
    transport: StreamableHTTPServerTransport | None


class LeanRequestContext:
    """What ``/mcp``'s handlers read of a request (the HTTP request, the method, params, id and version).

    It stands in for the SDK's ``ServerRequestContext`` on the lean path. There is no session object: on ``/mcp``
    nothing but the answer travels on a request, and a handler that reached for one would be a bug this makes
    loud rather than a notification silently sent nowhere.
    """

    __slots__ = ("request", "method", "params", "request_id", "protocol_version", "meta")

    def __init__(self, request: Request, exchange: _Exchange) -> None:
        self.request = request
        self.method = exchange.method
        self.params = exchange.params
        self.request_id = exchange.request_id
        self.protocol_version = exchange.version
        meta = exchange.params.get("_meta") if exchange.params else None
        self.meta = meta if isinstance(meta, dict) else None

    @property
    def session(self) -> Any:
        raise RuntimeError("the lean path has no MCP session object; serve this method through the SDK")


class LeanMcp:
    """ASGI in front of ``/mcp``'s session manager (see the module docstring)."""

    def __init__(
        self,
        sdk: ASGIApp,
        manager: StreamableHTTPSessionManager,
        server: RouterServer,
        sessions: OpenSessions,
        security: TransportSecuritySettings | None,
    ) -> None:
        self._sdk = sdk
        self._manager = manager
        self._server = server
        self._sessions = sessions
        self._security = TransportSecurityMiddleware(security) if security is not None else None
        self._max_body = manager.max_request_body_size
        self._handshake_era = _transport_internals_known(manager)
        self.answered = 0
        """How many requests the lean path answered itself (the tests and the benchmark read it)."""
        if not self._handshake_era:
            logger.warning("lean path: this MCP SDK's session transport is not the one it was written for; "
                           "handshake-era requests go through the SDK")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST" or virtual_server_of(scope) is not None:
            await self._sdk(scope, receive, send)
            return
        request = Request(scope, receive)
        body, replay = await self._read_body(request.headers, receive)
        exchange = await self._admit(request, body) if body is not None else None
        if exchange is None:
            await self._sdk(scope, replay, send)
            return
        await self._serve(Request(scope, replay), exchange, send)

    # --- whether a request is on the happy path --------------------------------------------------------------

    async def _read_body(self, headers: Headers, receive: Receive) -> tuple[bytes | None, Receive]:
        """The whole body (None when it is not one the lean path would read: too large, or the client left) and a
        ``receive`` that replays what was read, for the SDK."""
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            return None, receive
        read: list[Message] = []
        size = 0
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                return None, _replaying(read, receive)
            size += len(message.get("body", b""))
            if size > self._max_body:
                return None, _replaying(read, receive)
            if not message.get("more_body", False):
                return b"".join(m.get("body", b"") for m in read), _replaying(read, receive)

    async def _admit(self, request: Request, body: bytes) -> _Exchange | None:
        """The exchange to answer here, or None: the SDK answers (and refuses, when it is not well formed)."""
        headers = request.headers
        if self._security is not None and await self._security.validate_request(request, is_post=True) is not None:
            return None
        if not _json_content(headers) or not check_accept_headers(request)[0]:
            return None
        envelope = _envelope(body)
        if envelope is None:
            return None
        decoded, request_id, method, params = envelope
        version = headers.get("mcp-protocol-version")
        if version in MODERN_PROTOCOL_VERSIONS:
            return self._admit_modern(request, decoded, version)
        if version is None or version not in HANDSHAKE_PROTOCOL_VERSIONS or not self._handshake_era:
            return None
        session = self._open_session(request, version)
        if session is None or not _params_valid(method, version, params):
            return None
        return _Exchange(request_id, method, params, version, *session)

    def _admit_modern(self, request: Request, decoded: dict[str, Any], version: str) -> _Exchange | None:
        """2026-07-28: the SDK's own routing-header and ``_meta`` ladder, and its ``Mcp-Param-*`` check."""
        request_id, method, params = decoded["id"], decoded["method"], decoded.get("params")
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        if isinstance(verdict, InboundLadderRejection) or verdict.protocol_version != version:
            return None
        if method == "tools/call" and not self._mcp_params_agree(request, params):
            return None
        if not _params_valid(method, version, params):
            return None
        return _Exchange(request_id, method, params, version, None, None)

    def _mcp_params_agree(self, request: Request, params: dict[str, Any] | None) -> bool:
        """Whether ``Mcp-Param-*`` headers agree with the arguments, as the SDK checks before dispatch."""
        params = params or {}
        name, arguments = params.get("name"), params.get("arguments")
        if not isinstance(name, str) or (arguments is not None and not isinstance(arguments, Mapping)):
            return True  # the params validation refuses these
        if not arguments and not any(h.startswith("mcp-param-") for h in request.headers):
            return True
        lookup = self._server.get_tool_input_schema
        try:
            schema = lookup(name) if lookup is not None else None
        except Exception:
            return False  # the SDK decides what a failing lookup means
        return schema is None or validate_mcp_param_headers(schema, arguments or {}, request.headers) is None

    def _open_session(self, request: Request, version: str) -> tuple[str, StreamableHTTPServerTransport] | None:
        """The handshake-era session the request names, when the SDK would serve it as it is: known, not ended,
        opened by this caller, initialized, and at the version it negotiated."""
        session_id = request.headers.get("mcp-session-id")
        if not session_id:
            return None
        transport = self._manager._server_instances.get(session_id)  # private: see _transport_internals_known
        if transport is None or transport.is_terminated:
            return None
        idle = transport.idle_scope
        if idle is not None and idle.cancel_called:
            return None
        user = request.scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if requestor != self._manager._session_owners.get(session_id):
            return None
        if self._sessions.protocol_version(session_id) != version:
            return None  # not initialized yet, or the client speaks another version than it negotiated
        return session_id, transport

    # --- answering ---------------------------------------------------------------------------------------------

    async def _serve(self, request: Request, exchange: _Exchange, send: Send) -> None:
        self.answered += 1
        with _holding_idle_clock(exchange.transport):
            try:
                result = await self._handle(request, exchange)
            except Exception as exc:
                await self._send_error(exchange, modern_error_data(exc), send)
                return
        await self._send(exchange, {"jsonrpc": "2.0", "id": exchange.request_id, "result": result}, _OK, send)

    async def _handle(self, request: Request, exchange: _Exchange) -> dict[str, Any]:
        entry = self._server.get_request_handler(exchange.method)
        if entry is None:  # not served by this /mcp (aggregation off): the SDK's "method not found"
            raise _method_not_found(exchange.method)
        ctx = cast(ServerRequestContext[Any, Any], LeanRequestContext(request, exchange))

        async def inner(ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
            typed = entry.params_type.model_validate({} if exchange.params is None else exchange.params, by_name=False)
            result = await entry.handler(ctx, typed)
            if isinstance(result, ErrorData):
                raise MCPError.from_error_data(result)
            return self._serialize(exchange.method, exchange.version, result)

        call: CallNext = inner
        for middleware in reversed(self._server.middleware):
            if middleware is not downstream_session_middleware:  # its work is done below, without a session
                call = partial(_apply, middleware, call)
        # As downstream_session_middleware would: the kept upstream sessions belong to this MCP session (none in
        # 2026-07-28), and there is no downstream request to relay notifications to (/mcp has no wire for them).
        session_token = downstream_session.set(exchange.session_id)
        request_token = downstream_request.set(None)
        try:
            answered = await call(ctx)
        finally:
            downstream_request.reset(request_token)
            downstream_session.reset(session_token)
        return _dumped(answered)

    def _serialize(self, method: str, version: str, result: HandlerResult) -> dict[str, Any]:
        """The result's wire form by the SDK's rules (``ServerRunner._serialize``)."""
        hint = self._server.cache_hints.get(method)
        if hint is not None:
            if isinstance(result, CacheableResult):
                result = apply_cache_hint(result, hint)
            elif isinstance(result, Mapping) and not _methods.is_input_required(result):
                result = {"ttlMs": hint.ttl_ms, "cacheScope": hint.scope, **result}
        dumped = _dumped(result)
        result_type = dumped.get("resultType")
        modern = version in MODERN_PROTOCOL_VERSIONS
        if not modern or not isinstance(result_type, str) or result_type in CORE_RESULT_TYPES:
            try:
                dumped = _methods.serialize_server_result(method, version, dumped)
            except ValidationError:
                logger.exception("handler for %r returned an invalid result", method)
                raise _invalid_result() from None
        if modern:
            if dumped.get("resultType") is None:
                dumped["resultType"] = "complete"
            meta = dumped.get("_meta")
            if meta is None:
                dumped["_meta"] = {SERVER_INFO_META_KEY: self._server.server_info_stamp}
            elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
                dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: self._server.server_info_stamp}
        return dumped

    async def _send_error(self, exchange: _Exchange, error: ErrorData, send: Send) -> None:
        body = {"jsonrpc": "2.0", "id": exchange.request_id, "error": error.model_dump(mode="json", exclude_none=True)}
        modern = exchange.version in MODERN_PROTOCOL_VERSIONS
        # 2026-07-28 maps the error code to an HTTP status; the handshake era answers 200 in JSON mode.
        status = ERROR_CODE_HTTP_STATUS.get(error.code, _OK) if modern else _OK
        await self._send(exchange, body, status, send)

    @staticmethod
    async def _send(exchange: _Exchange, body: dict[str, Any], status: int, send: Send) -> None:
        content = pydantic_core.to_json(body)
        headers = [(b"content-type", CONTENT_TYPE_JSON.encode()), (b"content-length", str(len(content)).encode())]
        if exchange.session_id is not None:
            headers.append((b"mcp-session-id", exchange.session_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


# --- helpers ------------------------------------------------------------------------------------------------------


def _transport_internals_known(manager: StreamableHTTPSessionManager) -> bool:
    """Whether the SDK's session manager and transport still keep what the handshake-era lean path reads and
    holds (its session table and owners, the transport's in-flight count and idle timeout). They are private;
    the pinned SDK has them, and a different one sends handshake-era requests back through the SDK."""
    probe = StreamableHTTPServerTransport(mcp_session_id=None, idle_timeout=1.0)
    return all(hasattr(manager, f) for f in ("_server_instances", "_session_owners")) and all(
        hasattr(probe, f) for f in ("_requests_in_flight", "_idle_timeout", "idle_scope")
    )


@contextmanager
def _holding_idle_clock(transport: StreamableHTTPServerTransport | None) -> Iterator[None]:
    """While a handshake-era request runs, its session does not idle out; the countdown restarts once the last
    request of the session finished (the SDK transport's own rule, which the lean path bypasses)."""
    idle = transport.idle_scope if transport is not None else None
    if transport is None or idle is None:
        yield
        return
    transport._requests_in_flight += 1
    idle.deadline = math.inf
    try:
        yield
    finally:
        transport._requests_in_flight -= 1
        timeout = transport._idle_timeout
        if not transport._requests_in_flight and timeout is not None:
            idle.deadline = anyio.current_time() + timeout


def _replaying(read: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``read`` again, then whatever the client sends next."""
    pending = list(read)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _json_content(headers: Headers) -> bool:
    """The SDK transport's Content-Type rule: ``application/json`` among the types before any parameter."""
    content_type = headers.get("content-type", "")
    return any(part.strip() == CONTENT_TYPE_JSON for part in content_type.split(";")[0].split(","))


def _envelope(body: bytes) -> tuple[dict[str, Any], str | int, str, dict[str, Any] | None] | None:
    """(the message, id, method, params) of a body that is exactly one JSON-RPC request for a hot method; None
    otherwise."""
    try:
        decoded = pydantic_core.from_json(body)
    except ValueError:
        return None
    if not isinstance(decoded, dict) or not decoded.keys() <= _ENVELOPE_KEYS or decoded.get("jsonrpc") != "2.0":
        return None
    request_id, method, params = decoded.get("id"), decoded.get("method"), decoded.get("params")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or method not in HOT_METHODS:
        return None
    if "params" in decoded and not isinstance(params, dict):
        return None
    return decoded, request_id, cast(str, method), params


def _params_valid(method: str, version: str, params: dict[str, Any] | None) -> bool:
    """The SDK's per-version validation of a spec method's params (it refuses what fails, with its own error)."""
    try:
        _methods.validate_client_request(method, version, params)
    except (ValidationError, KeyError):
        return False
    return True


async def _apply(middleware: Any, call_next: CallNext, ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
    return cast(HandlerResult, await middleware(ctx, call_next))


def _dumped(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(result, dict):
        return dict(cast(dict[str, Any], result))
    raise TypeError(f"handler returned {type(result).__name__}; expected BaseModel, dict, or None")


def _method_not_found(method: str) -> MCPError:
    return MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=method)


def _invalid_result() -> MCPError:
    return MCPError(code=INTERNAL_ERROR, message="Handler returned an invalid result")
