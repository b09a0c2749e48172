"""What a handler reads of a request on the lean path, its session (2026-07-28), and the session's idle clock
(handshake era)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import anyio
from mcp.server.connection import Connection
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import NoBackChannelError
from mcp_types import ClientCapabilities
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request

from toolrouter.lean.admission import Exchange


class StatelessSession:
    """A 2026-07-28 request's session on the lean path: what the client declared in the request's ``_meta``.

    The lean path takes a streaming server's 2026-07-28 request only when it opted in to neither progress nor
    log messages, so what an adapter sends meanwhile is dropped here exactly as the SDK's per-request log gate
    and progress rule drop it; a server-to-client request fails as the SDK's does (no back-channel: the era
    asks through ``InputRequiredResult`` instead).
    """

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    @cached_property
    def client_capabilities(self) -> ClientCapabilities | None:
        exchange = self._exchange
        # The SDK's own reading of the envelope (a mis-shaped value counts as not declared).
        return Connection.from_envelope(
            exchange.version, exchange.client_info, exchange.client_capabilities
        ).client_capabilities

    async def send_request(self, request: Any, *_: Any, **__: Any) -> Any:
        raise NoBackChannelError(str(getattr(request, "method", "request")))

    async def send_log_message(self, *_: Any, **__: Any) -> None:
        return None

    async def report_progress(self, *_: Any, **__: Any) -> None:
        return None


class LeanRequestContext:
    """What the router's handlers read of a request: the HTTP request, the method, params, id, version and
    ``_meta``, and (2026-07-28) the :class:`StatelessSession`. It stands in for the SDK's
    ``ServerRequestContext``.

    A handshake-era request has no session object here: the lean path takes one only where nothing but the
    answer can travel on it (``/mcp``, or a list from a kept view), and a handler that reached for one would be
    a bug this makes loud rather than a notification sent nowhere.
    """

    __slots__ = ("request", "method", "params", "request_id", "protocol_version", "meta", "_session")

    def __init__(self, request: Request, exchange: Exchange) -> None:
        self.request = request
        self.method = exchange.method
        self.params = exchange.params
        self.request_id = exchange.request_id
        self.protocol_version = exchange.version
        self.meta = exchange.meta
        self._session = StatelessSession(exchange) if exchange.version in MODERN_PROTOCOL_VERSIONS else None

    @property
    def session(self) -> StatelessSession:
        if self._session is None:
            raise RuntimeError("the lean path has no handshake-era session object; serve this through the SDK")
        return self._session


def transport_internals_known(manager: StreamableHTTPSessionManager) -> bool:
    """Whether the SDK's session manager and transport still keep what the handshake-era lean path reads and
    holds (its session table and owners, the transport's in-flight count and idle timeout). They are private;
    the pinned SDK has them, and with a different one handshake-era requests go through the SDK."""
    probe = StreamableHTTPServerTransport(mcp_session_id=None, idle_timeout=1.0)
    return all(hasattr(manager, f) for f in ("_server_instances", "_session_owners")) and all(
        hasattr(probe, f) for f in ("_requests_in_flight", "_idle_timeout", "idle_scope")
    )


@contextmanager
def holding_idle_clock(transport: StreamableHTTPServerTransport | None) -> Iterator[None]:
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
