"""The Streamable HTTP front of the bridge: ``POST|GET|DELETE /mcp`` onto :mod:`stdio_sessions` (a child
process per session) or :mod:`sse_sessions` (an HTTP+SSE connection per session).

Session era only (2025-03-26 … 2025-11-25): a stdio server has one connection per process, and an HTTP+SSE
server one per stream, which is what an MCP session is. A 2026-07-28 ``server/discover`` probe is refused
with HTTP 400 and -32022 so that clients fall back to ``initialize``.

``GET /healthz`` answers ``{"status": "ok", "sessions": n, "maxSessions": m, "idleTimeoutSeconds": t}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge.config import BridgeConfig, SseTarget, StdioTarget
from bridge.sse_sessions import SseCommand, sse_client, sse_factory
from bridge.stdio_sessions import (
    Item,
    RelaySession,
    SessionFactory,
    SessionRegistry,
    StreamConflict,
    TooManySessions,
    UpstreamUnavailable,
)
from bridge.wire import (
    HANDSHAKE_VERSIONS,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    KEEPALIVE,
    PARSE_ERROR,
    PROTOCOL_HEADER,
    SERVER_ERROR,
    SESSION_HEADER,
    SESSION_ID_PATTERN,
    SSE_HEADERS,
    UNSUPPORTED_PROTOCOL_VERSION,
    BodyTooLarge,
    accepts,
    classify,
    error_response,
    is_json_content,
    read_body,
    rebinding_rejection,
    session_not_found,
    sse_event,
)

log = logging.getLogger("bridge")
KEEPALIVE_SECONDS = 15.0
MISSING_SESSION = "Bad Request: Mcp-Session-Id header is required"


class StdioBridge:
    """The request handlers; one instance per app, holding the session registry."""

    def __init__(self, config: BridgeConfig, target: StdioTarget | SessionFactory) -> None:
        self.config = config
        self.sessions = SessionRegistry(target, config.session_ttl, config.max_sessions)

    async def handle(self, request: Request) -> Response:
        rejection = rebinding_rejection(request, self.config.host)
        if rejection is not None:
            return rejection
        if request.method == "POST":
            return await self._post(request)
        if request.method == "GET":
            return self._get(request)
        return await self._delete(request)

    async def _post(self, request: Request) -> Response:
        if not (accepts(request, "application/json") or accepts(request, "text/event-stream")):
            return error_response(
                406, INVALID_REQUEST,
                "Not Acceptable: Accept must admit application/json or text/event-stream"
            )
        if not is_json_content(request):
            return error_response(
                415, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json")
        try:
            message = json.loads(await read_body(request, self.config.max_body_bytes))
        except BodyTooLarge:
            return error_response(413, INVALID_REQUEST,
                                  f"Request body larger than {self.config.max_body_bytes} bytes")
        except ValueError:
            return error_response(400, PARSE_ERROR, "Parse error: the body is not JSON")
        kind = classify(message)
        if kind is None:
            detail = "batches are not supported" if isinstance(message, list) else "not JSON-RPC 2.0"
            return error_response(400, INVALID_REQUEST, f"Invalid Request: {detail}")
        request_id = message.get("id") if kind == "request" else None
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            return await self._post_without_session(request, message, kind)
        session = self._session(session_id)
        if session is None:
            return session_not_found(request_id)
        version = request.headers.get(PROTOCOL_HEADER)
        if version is not None and version not in HANDSHAKE_VERSIONS:
            return _unsupported_version(version, request_id)
        session.touch()
        if kind != "request":
            return await self._forward_one_way(session, message)
        return await self._forward_request(request, session, message)

    async def _post_without_session(self, request: Request, message: dict[str, Any], kind: str) -> Response:
        request_id = message.get("id")
        method = message.get("method")
        if kind == "request" and method == "initialize":
            try:
                session = await self.sessions.create()
            except TooManySessions as exc:
                return error_response(503, SERVER_ERROR, f"Service Unavailable: {exc}", request_id,
                                      headers={"Retry-After": "5"})
            except UpstreamUnavailable as exc:
                log.error("cannot open a session with the MCP server: %s (%s)", exc, exc.detail)
                return error_response(502, SERVER_ERROR, f"Bad Gateway: {exc}", request_id)
            except OSError as exc:
                log.error("cannot start the MCP server: %s", exc)
                # The OS error names paths and files on the server: the log gets it, the client does not.
                reason = "Cannot start the MCP server; the server's log says why."
                return error_response(500, INTERNAL_ERROR, reason, request_id)
            return await self._forward_request(request, session, message, initialize=True)
        if method == "server/discover" or request.headers.get("mcp-method") == "server/discover":
            # A stdio server is a session-era server: tell the client to fall back to initialize.
            return _unsupported_version(request.headers.get(PROTOCOL_HEADER) or "2026-07-28", request_id)
        return error_response(400, INVALID_REQUEST, MISSING_SESSION, request_id)

    async def _forward_one_way(self, session: RelaySession, message: dict[str, Any]) -> Response:
        """Notifications and responses (to sampling/elicitation) get 202 once written."""
        try:
            await session.send(message)
        except ConnectionResetError:
            return session_not_found()
        except UpstreamUnavailable as exc:
            log.warning("session %s: %s (%s)", session.id[:8], exc, exc.detail)
            return error_response(502, SERVER_ERROR, f"Bad Gateway: {exc}")
        return Response(status_code=202, headers={SESSION_HEADER: session.id})

    async def _forward_request(
        self, request: Request, session: RelaySession, message: dict[str, Any], initialize: bool = False,
    ) -> Response:
        request_id = message["id"]
        streaming = accepts(request, "text/event-stream")
        try:
            queue = session.open_request(request_id, message, carries_messages=streaming)
        except StreamConflict as exc:
            return error_response(409, INVALID_REQUEST, f"Conflict: {exc}", request_id)
        try:
            await session.send(message)
        except ConnectionResetError:
            session.close_request(request_id, queue)
            return session_not_found(request_id)
        except UpstreamUnavailable as exc:
            session.close_request(request_id, queue)
            log.warning("session %s: %s (%s)", session.id[:8], exc, exc.detail)
            return error_response(502, SERVER_ERROR, f"Bad Gateway: {exc}", request_id)
        headers = {SESSION_HEADER: session.id}
        if not streaming:
            return await self._json_reply(session, request_id, queue, headers, initialize)
        body = self._sse_reply(session, request_id, queue, initialize)
        return StreamingResponse(body, media_type="text/event-stream", headers={**SSE_HEADERS, **headers})

    async def _sse_reply(
        self, session: RelaySession, request_id: Any, queue: asyncio.Queue[Item], initialize: bool,
    ) -> AsyncIterator[bytes]:
        try:
            async for line in _drain(queue):
                if line is None:
                    yield KEEPALIVE
                    continue
                yield sse_event(line)
                if initialize:
                    await self._drop_failed_initialize(session, line, request_id)
        finally:
            session.close_request(request_id, queue)

    async def _json_reply(
        self, session: RelaySession, request_id: Any, queue: asyncio.Queue[Item], headers: dict[str, str],
        initialize: bool,
    ) -> Response:
        last: bytes | None = None
        try:
            async for line in _drain(queue):
                if line is not None:
                    last = line
        finally:
            session.close_request(request_id, queue)
        if last is None:
            return error_response(500, INTERNAL_ERROR, "No response from the MCP server", request_id)
        if initialize:
            await self._drop_failed_initialize(session, last, request_id)
        return Response(last, media_type="application/json", headers=headers)

    async def _drop_failed_initialize(self, session: RelaySession, line: bytes, request_id: Any) -> None:
        """A session whose initialize failed was never established; do not keep its process."""
        with contextlib.suppress(ValueError):
            reply = json.loads(line)
            if isinstance(reply, dict) and reply.get("id") == request_id and "error" in reply:
                await self.sessions.delete(session.id)

    def _get(self, request: Request) -> Response:
        if not accepts(request, "text/event-stream"):
            return error_response(406, INVALID_REQUEST, "Not Acceptable: Accept must admit text/event-stream")
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            return error_response(400, INVALID_REQUEST, MISSING_SESSION)
        session = self._session(session_id)
        if session is None:
            return session_not_found()
        try:
            queue = session.open_standalone()
        except StreamConflict as exc:
            return error_response(409, INVALID_REQUEST, f"Conflict: {exc}")

        async def events() -> AsyncIterator[bytes]:
            try:
                async for line in _drain(queue):
                    yield KEEPALIVE if line is None else sse_event(line)
            finally:
                session.close_standalone(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={**SSE_HEADERS, SESSION_HEADER: session.id})

    async def _delete(self, request: Request) -> Response:
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            return error_response(400, INVALID_REQUEST, MISSING_SESSION)
        if self._session(session_id) is None or not await self.sessions.delete(session_id):
            return session_not_found()
        return Response(status_code=200)

    def _session(self, session_id: str) -> RelaySession | None:
        if not SESSION_ID_PATTERN.match(session_id):
            return None
        return self.sessions.get(session_id)


async def _drain(queue: asyncio.Queue[Item]) -> AsyncIterator[bytes | None]:
    """Yield queued messages until the end marker; yield None after a quiet period (send a keep-alive)."""
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            yield None
            continue
        if item is None:
            return
        yield item


def _unsupported_version(version: str, request_id: Any) -> Response:
    return error_response(
        400, UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported protocol version {version!r}: this server speaks the session-era revisions",
        request_id, data={"supported": list(HANDSHAKE_VERSIONS), "requested": version},
    )


def create_stdio_app(config: BridgeConfig, target: StdioTarget) -> tuple[Starlette, SessionRegistry]:
    """The ASGI app serving ``target`` at ``/mcp``; the registry is returned for shutdown hooks."""
    bridge = StdioBridge(config, target)
    return _app(bridge, contextlib.nullcontext), bridge.sessions


def create_sse_app(
    config: BridgeConfig, target: SseTarget, on_command_exit: Callable[[int], None] | None = None,
) -> tuple[Starlette, SessionRegistry, SseCommand | None]:
    """The ASGI app serving an HTTP+SSE server at ``/mcp``: one SSE connection per session.

    With a command, the lifespan starts it (and waits until it listens) before the bridge accepts requests,
    and ``on_command_exit(code)`` is called if it exits while the bridge runs.
    """
    client = sse_client()
    command = SseCommand(target) if target.command is not None else None
    bridge = StdioBridge(config, sse_factory(client, lambda: command.url if command is not None else target.url))

    @contextlib.asynccontextmanager
    async def upstream() -> AsyncIterator[None]:
        watcher: asyncio.Task[None] | None = None
        try:
            if command is not None:
                await command.start()
                watcher = asyncio.create_task(_watch(command), name="bridge-sse-command")
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await bridge.sessions.close_all()
            if command is not None:
                await command.stop()
            await client.aclose()

    async def _watch(running: SseCommand) -> None:
        code = await running.wait()
        log.error("the MCP server exited with code %s; the bridge stops too", code)
        await bridge.sessions.close_all()
        if on_command_exit is not None:
            on_command_exit(code)

    return _app(bridge, upstream), bridge.sessions, command


def _app(bridge: StdioBridge, upstream: Callable[[], contextlib.AbstractAsyncContextManager[Any]]) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with upstream():
            sweeper = asyncio.create_task(bridge.sessions.run_expiry(), name="bridge-session-expiry")
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                await bridge.sessions.close_all()

    async def health(_: Request) -> Response:
        sessions = bridge.sessions
        return JSONResponse({"status": "ok", "sessions": len(sessions), "maxSessions": sessions.max_sessions,
                             "idleTimeoutSeconds": sessions.ttl})

    return Starlette(
        routes=[Route("/mcp", bridge.handle, methods=["GET", "POST", "DELETE"]),
                Route("/healthz", health, methods=["GET"])],
        lifespan=lifespan,
    )
