"""``LeanMcp``: the hot requests of ``/mcp`` and the virtual servers, answered without the SDK's per-request
session machinery.

Why: through the SDK's streamable HTTP session manager a ``tools/call`` on ``/mcp`` cost the router 0.8-1.5 ms
of CPU, most of it in machinery a one-JSON-body answer does not need: memory streams and a task per request
(handshake era), the dispatcher, a pydantic model of every envelope, the result validated and dumped three
times. A virtual server's warm ``tools/list`` of 500 tools took 20-30 ms, most of it in that serialization.

What it takes: ``tools/list``, ``tools/call``, ``resources/read`` and ``prompts/get``, in both protocol eras,
when the request is on the happy path (:mod:`toolrouter.lean.admission`): JSON in and accepted, the
DNS-rebinding check passed, one JSON-RPC request, params the SDK's own per-version validation accepts, and
either a 2026-07-28 request that passes the SDK's routing-header, ``_meta`` and ``Mcp-Param-*`` checks or a
handshake-era request on a session the SDK would serve as it is (known, not ended, opened by this caller,
initialized, at the version it negotiated). Anything else goes to the SDK with its body replayed, so every
refusal is the SDK's own.

What stays the SDK's: the handler (the server's registered one) behind the server's middleware (the
OpenTelemetry span, a virtual server's access check), the result's shape (:mod:`toolrouter.lean.shaping`),
and the session's idle clock, held while a request runs as the SDK transport does.

Where: ``/mcp`` answers each POST with one JSON body, so nothing but the answer travels on a request there
and every hot request qualifies. A virtual server streams what its adapters send during a request (progress,
log messages, sampling, elicitation, roots), so the lean path takes only what cannot send anything: a
2026-07-28 request that opted in to neither progress nor log messages (the SDK answers those with one JSON
body too, and asks nothing of the client in that era), and a handshake-era ``tools/list`` that a kept view
answers without asking any adapter (``lists_quietly``). Those get one JSON body where the SDK's transport
would have sent a one-event SSE stream, which the protocol leaves to the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.lowlevel
import pydantic_core
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
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
from mcp_types import INTERNAL_ERROR, METHOD_NOT_FOUND, ErrorData
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolrouter.lean.admission import (
    Exchange,
    asks_for_notifications,
    envelope,
    json_content,
    params_valid,
    read_body,
)
from toolrouter.lean.context import LeanRequestContext, holding_idle_clock, transport_internals_known
from toolrouter.lean.shaping import ResultShaper, dumped_result
from toolrouter.relay import downstream_request
from toolrouter.sessions import OpenSessions
from toolrouter.upstream import downstream_session
from toolrouter.virtual_handlers import downstream_session_middleware

if TYPE_CHECKING:  # the composition root imports this package
    from toolrouter.app import RouterServer

logger = logging.getLogger(__name__)

_OK = 200
PING_SECONDS = 15.0
"""As the SDK's 2026-07-28 entry: a streaming server's request still running after this commits to SSE and
sends a keep-alive comment as often, so no proxy idle time-out cuts a long call."""
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


class LeanMcp:
    """ASGI in front of one MCP server's session manager (see the module docstring).

    ``streams``: the server streams (a virtual server): take only what cannot send anything during the request;
    ``lists_quietly(scope)``: whether a handshake-era ``tools/list`` of that request needs no adapter.
    """

    def __init__(
        self,
        sdk: ASGIApp,
        manager: StreamableHTTPSessionManager,
        server: RouterServer,
        sessions: OpenSessions,
        security: TransportSecuritySettings | None,
        *,
        streams: bool = False,
        lists_quietly: Callable[[Scope], bool] | None = None,
    ) -> None:
        self._sdk = sdk
        self._manager = manager
        self._server = server
        self._sessions = sessions
        # Built even without settings, as the SDK's transports do: it then still checks the Content-Type (the
        # DNS-rebinding part is off), and so must the lean path.
        self._security = TransportSecurityMiddleware(security)
        self._streams = streams
        self._lists_quietly = lists_quietly
        self._shaper = ResultShaper(server)
        self._running: dict[str, set[anyio.CancelScope]] = {}
        """Handshake-era session id -> the cancel scopes of its requests running here (see session_ended)."""
        self._handshake_era = transport_internals_known(manager)
        self.answered = 0
        """How many requests the lean path answered itself (the tests and the benchmark read it)."""
        if not self._handshake_era:
            logger.warning(
                "lean path: this MCP SDK's session transport is not the one it was written for; "
                "handshake-era requests go through the SDK"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            await self._sdk(scope, receive, send)
            return
        request = Request(scope, receive)
        body, replay = await read_body(request.headers, receive, self._manager.max_request_body_size)
        exchange = await self._admit(request, body) if body is not None else None
        if exchange is None:
            await self._sdk(scope, replay, send)
            return
        self.answered += 1
        request = Request(scope, replay)
        if self._streams and exchange.version in MODERN_PROTOCOL_VERSIONS:
            await self._serve_keeping_alive(request, exchange, send)
        else:
            await _send_json(exchange, await self._answer(request, exchange), send)

    # --- whether a request is on the happy path --------------------------------------------------------------

    async def _admit(self, request: Request, body: bytes) -> Exchange | None:
        """The exchange to answer here, or None: the SDK answers (and refuses, when it is not well formed)."""
        headers = request.headers
        if await self._security.validate_request(request, is_post=True) is not None:
            return None
        accepts_json, accepts_sse = check_accept_headers(request)
        if not json_content(headers) or not accepts_json or (self._streams and not accepts_sse):
            return None
        found = envelope(body)
        if found is None:
            return None
        decoded, request_id, method, params = found
        version = headers.get("mcp-protocol-version")
        if version in MODERN_PROTOCOL_VERSIONS:
            return self._admit_modern(request, decoded, version)
        if version is None or version not in HANDSHAKE_PROTOCOL_VERSIONS or not self._handshake_era:
            return None
        if self._streams and not (method == "tools/list" and self._quiet_list(request.scope)):
            return None
        session = self._open_session(request, version)
        if session is None or not params_valid(method, version, params):
            return None
        return Exchange(request_id, method, params, version, *session)

    def _quiet_list(self, scope: Scope) -> bool:
        return self._lists_quietly is not None and self._lists_quietly(scope)

    def _admit_modern(self, request: Request, decoded: dict[str, Any], version: str) -> Exchange | None:
        """2026-07-28: the SDK's own routing-header and ``_meta`` ladder, and its ``Mcp-Param-*`` check."""
        request_id, method, params = decoded["id"], decoded["method"], decoded.get("params")
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        if isinstance(verdict, InboundLadderRejection) or verdict.protocol_version != version:
            return None
        exchange = Exchange(
            request_id,
            method,
            params,
            version,
            client_info=verdict.client_info,
            client_capabilities=verdict.client_capabilities,
        )
        if self._streams and asks_for_notifications(exchange.meta):
            return None
        if method == "tools/call" and not self._mcp_params_agree(request, params):
            return None
        return exchange if params_valid(method, version, params) else None

    def _mcp_params_agree(self, request: Request, params: dict[str, Any] | None) -> bool:
        """Whether ``Mcp-Param-*`` headers agree with the arguments, as the SDK checks before dispatch."""
        params = params or {}
        name, arguments = params.get("name"), params.get("arguments")
        if not isinstance(name, str) or (arguments is not None and not isinstance(arguments, dict)):
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
        transport = self._manager._server_instances.get(session_id)  # private: see transport_internals_known
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

    def session_ended(self, session_id: str) -> None:
        """The session was deleted: its requests running here end now, as the SDK ends those it serves (their
        answer says so), and none of them goes on to open upstream sessions for a session that is gone."""
        for scope in self._running.pop(session_id, ()):
            scope.cancel()

    async def _answer(self, request: Request, exchange: Exchange) -> tuple[dict[str, Any], int]:
        """The JSON-RPC reply and its HTTP status (2026-07-28 maps an error's code to one; the handshake era
        answers 200, and 500 when the session ended meanwhile, as the SDK's transport does)."""
        session_id, transport = exchange.session_id, exchange.transport
        with anyio.CancelScope() as scope, holding_idle_clock(transport):
            if session_id is not None:
                self._running.setdefault(session_id, set()).add(scope)
            try:
                if transport is not None and transport.is_terminated:
                    scope.cancel()
                    await anyio.lowlevel.checkpoint()
                return await self._reply(request, exchange)
            finally:
                if session_id is not None:
                    running = self._running.get(session_id)
                    if running is not None:
                        running.discard(scope)
                        if not running:
                            del self._running[session_id]
        return _SESSION_ENDED, 500

    async def _reply(self, request: Request, exchange: Exchange) -> tuple[dict[str, Any], int]:
        try:
            result = await self._handle(request, exchange)
        except Exception as exc:
            error = modern_error_data(exc)
            modern = exchange.version in MODERN_PROTOCOL_VERSIONS
            return _error_reply(exchange, error), ERROR_CODE_HTTP_STATUS.get(error.code, _OK) if modern else _OK
        return {"jsonrpc": "2.0", "id": exchange.request_id, "result": result}, _OK

    async def _handle(self, request: Request, exchange: Exchange) -> dict[str, Any]:
        entry = self._server.get_request_handler(exchange.method)
        if entry is None:  # not served here (/mcp with aggregation off has no prompts): the SDK's "not found"
            raise MCPError(code=METHOD_NOT_FOUND, message="Method not found", data=exchange.method)
        ctx = cast(ServerRequestContext[Any, Any], LeanRequestContext(request, exchange))

        async def inner(ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
            typed = entry.params_type.model_validate({} if exchange.params is None else exchange.params, by_name=False)
            result = await entry.handler(ctx, typed)
            if isinstance(result, ErrorData):
                raise MCPError.from_error_data(result)
            return self._shaper.shape(exchange.method, exchange.version, result)

        call: CallNext = inner
        for middleware in reversed(self._server.middleware):
            if middleware is not downstream_session_middleware:  # its work is done below
                call = partial(_apply, middleware, call)
        # As downstream_session_middleware does: the kept upstream sessions belong to this MCP session (none in
        # 2026-07-28); what adapters send goes to this request (a 2026-07-28 one: see StatelessSession). A
        # handshake-era request taken here has nothing that could be sent to it.
        modern = exchange.version in MODERN_PROTOCOL_VERSIONS
        session_token = downstream_session.set(exchange.session_id)
        request_token = downstream_request.set(ctx if modern else None)
        try:
            answered = await call(ctx)
        finally:
            downstream_request.reset(request_token)
            downstream_session.reset(session_token)
        return dumped_result(answered)

    async def _serve_keeping_alive(self, request: Request, exchange: Exchange, send: Send) -> None:
        """A streaming server's 2026-07-28 request, as the SDK serves it: one JSON body if the answer comes
        within :data:`PING_SECONDS`, else SSE with a keep-alive comment that often, then the answer as an event.
        The client going away cancels the work (as it does on the SDK's path)."""
        answer: list[tuple[dict[str, Any], int]] = []
        done = anyio.Event()

        async def work() -> None:
            answer.append(await self._answer(request, exchange))
            done.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(work)
            tasks.start_soon(_cancel_on_disconnect, request.receive, tasks.cancel_scope)
            with anyio.move_on_after(PING_SECONDS):
                await done.wait()
            if done.is_set():
                await _send_json(exchange, answer[0], send)
            else:
                await send({"type": "http.response.start", "status": _OK, "headers": _SSE_HEADERS})
                while not done.is_set():
                    await send({"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True})
                    with anyio.move_on_after(PING_SECONDS):
                        await done.wait()
                event = b"event: message\r\ndata: " + pydantic_core.to_json(answer[0][0]) + b"\r\n\r\n"
                await send({"type": "http.response.body", "body": event, "more_body": False})
            tasks.cancel_scope.cancel()


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive()).get("type") != "http.disconnect":
        pass
    scope.cancel()


_SESSION_ENDED = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": INTERNAL_ERROR, "message": "Session terminated before the request completed"},
}
"""The SDK transport's answer to a request whose session was deleted while it ran (no id: the transport's own)."""


def _error_reply(exchange: Exchange, error: ErrorData) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": exchange.request_id, "error": error.model_dump(mode="json", exclude_none=True)}


async def _send_json(exchange: Exchange, answer: tuple[dict[str, Any], int], send: Send) -> None:
    body, status = answer
    content = pydantic_core.to_json(body)
    headers = [(b"content-type", CONTENT_TYPE_JSON.encode()), (b"content-length", str(len(content)).encode())]
    if exchange.session_id is not None:
        headers.append((b"mcp-session-id", exchange.session_id.encode()))
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": content})


async def _apply(middleware: Any, call_next: CallNext, ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
    return cast(HandlerResult, await middleware(ctx, call_next))
