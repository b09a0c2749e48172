"""The HTTP server: uvicorn, with limits on slow and oversized requests and a graceful shutdown.

uvicorn bounds neither a request head that trickles in or never ends (it has no header timeout; a
fresh connection that sends nothing is never closed), nor its size (httptools buffers whatever
arrives), nor its number of headers, nor how many connections one address holds. h11's
``h11_max_incomplete_event_size`` only covers the size and comes with a pure-Python parser, so
:class:`GatewayHttpProtocol` adds all four to uvicorn's httptools protocol instead:

- the head's size is counted as the bytes arrive, its header count, header lines and request target are
  checked when it is complete (431, 414): the per-header parser callback is left alone, because
  overriding it costs more than all the rest (``python -m bench.server_cost``);
- the head and body deadlines are plain timestamps on the connection, checked once a second by
  :class:`GatewayServer` (408): nothing per request on the hot path but a few counters, no timers;
- connections per client address are counted when they open and close (429).

:class:`GatewayServer` also starts the drain (gateway/drain.py) when it stops accepting connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from gateway.drain import Drain
from gateway.errors import GatewayError, HeadersTooLarge, RequestTimeout, TooManyConnections, UriTooLong
from gateway.refusals import refusal_body, refusal_headers
from gateway.server_writes import CoalescingTransport
from gateway.settings import ServerSettings
from gateway.telemetry.logs import CallerlessLogger

log = logging.getLogger(__name__)

CHECK_EVERY_TICKS = 10
"""uvicorn's main loop ticks every 0.1 s; the deadlines are checked every tenth tick (once a second)."""
SHUTDOWN_BACKSTOP_SECONDS = 2
"""uvicorn cancels what is left this long after the drain's deadline (which should have ended it all)."""
REFUSED_BODY_READ_BYTES = 65_536


@dataclass(frozen=True)
class ServerLimits:
    max_head_bytes: int
    max_line_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    body_seconds_per_byte: float
    max_connections_per_client: int

    @classmethod
    def from_settings(cls, server: ServerSettings) -> ServerLimits:
        return cls(
            max_head_bytes=server.max_header_bytes,
            max_line_bytes=server.max_header_line_bytes,
            max_headers=server.max_headers,
            header_timeout=server.header_timeout_seconds,
            body_timeout=server.body_timeout_seconds,
            body_seconds_per_byte=1.0 / server.body_min_bytes_per_second,
            max_connections_per_client=server.max_connections_per_client,
        )


def client_key(host: str) -> str:
    """What counts as one client: an IPv4 address, or an IPv6 /64 (one host's usual allocation, which
    it can fill with addresses at will)."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class ClientConnections:
    """Open connections per client key, shared by every connection of one server."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def admit(self, key: str) -> bool:
        count = self._open.get(key, 0)
        if count >= self._limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._open.pop(key, 0) - 1
        if count > 0:
            self._open[key] = count

    def count(self, key: str) -> int:
        return self._open.get(key, 0)


class _Refused(Exception):
    """Raised inside a parser callback to stop the parser; the refusal itself is on the protocol."""


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the gateway's request limits; see the module docstring.

    A connection is in one of three states for the deadlines: reading a head (from its opening, or from
    the first byte after a response), reading a body (head complete, message not), or neither (the app
    is working or the connection idles between requests, which uvicorn's keep-alive time-out bounds).
    A deadline's clock starts when :meth:`check_deadline` first sees the state, so at most a second late.
    """

    limits: ClassVar[ServerLimits]
    clients: ClassVar[ClientConnections]
    _writes: CoalescingTransport
    """The connection's transport, from ``connection_made`` on (also ``self.transport``)."""

    @classmethod
    def configured(cls, limits: ServerLimits) -> type[GatewayHttpProtocol]:
        """A subclass bound to ``limits`` and its own connection count (uvicorn takes a class)."""
        attributes = {"limits": limits, "clients": ClientConnections(limits.max_connections_per_client)}
        return type(cls.__name__, (cls,), attributes)

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # The same access-log records without the stack walk for their caller (gateway.telemetry.logs).
        self.access_logger = CallerlessLogger(self.access_logger, RequestResponseCycle.send)  # type: ignore[assignment]
        self.url = b""
        self._client_key: str | None = None
        self._refusal: GatewayError | None = None
        self._deferred_refusal: GatewayError | None = None
        self._reading_head = True
        self._reading_body = False
        self._since: float | None = None
        self._head_bytes = 0
        self._body_bytes = 0

    # Connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Every write of the connection, the protocol's own and its response cycles', goes through one view
        # that sends a small response in one write (gateway/server_writes.py); one view, so none overtakes it.
        self.transport = self._writes = CoalescingTransport(transport, self.loop)
        if self.client is None or self.limits.max_connections_per_client == 0:
            return
        key = client_key(self.client[0])
        if self.clients.admit(key):
            self._client_key = key
        else:
            log.warning("refusing a connection from %s: %d already open", key, self.clients.count(key))
            self.app = _too_many_connections  # answers its first request with 429 and closes

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._client_key is not None:
            self.clients.release(self._client_key)
            self._client_key = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._writes.hold_next_write()  # the cycle's first write is its response's head
        super()._start_asgi_task(cycle, app)

    # Bytes and parser callbacks

    def data_received(self, data: bytes) -> None:
        if self._deferred_refusal is not None:
            return  # refused: nothing more is read, the refusal goes out after the pending responses
        if self._reading_body:
            self._body_bytes += len(data)
        else:
            if not self._reading_head:
                self._begin_head()  # the first byte of the next request
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head:
            # Checked after parsing, since a chunk that completes the head may carry any amount of body.
            # The parser holds at most one chunk (256 KiB) beyond the limit.
            self._check_unfinished_head()

    def on_headers_complete(self) -> None:
        self._check_head()
        self._reading_head = False
        self._reading_body = True
        self._since = None
        self._body_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._since = None
        self._head_bytes = 0
        super().on_message_complete()

    # Head limits

    def _check_unfinished_head(self) -> None:
        limits = self.limits
        if self._head_bytes > limits.max_head_bytes:
            self._refuse(HeadersTooLarge(f"The request head is larger than {limits.max_head_bytes} bytes."))
        elif self.headers is not None and len(self.headers) > limits.max_headers:
            self._refuse(HeadersTooLarge(f"The request has more than {limits.max_headers} headers."))

    def _check_head(self) -> None:
        """The complete head: raising here stops the parser before uvicorn starts the app."""
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            self._stop_parsing(HeadersTooLarge(f"The request has more than {limits.max_headers} headers."))
        # Only a head this large can hold a line this long; 0 is a pipelined head, whose bytes arrived in the
        # chunk that completed the previous request and were not counted.
        if 0 < self._head_bytes <= limits.max_line_bytes:
            return
        if len(self.url) > limits.max_line_bytes:
            self._stop_parsing(UriTooLong(f"The request target is longer than {limits.max_line_bytes} bytes."))
        if any(len(name) + len(value) > limits.max_line_bytes for name, value in self.headers):
            self._stop_parsing(HeadersTooLarge(f"A header is larger than {limits.max_line_bytes} bytes."))

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parser error, including the one a refusing callback raised.
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    # Deadlines

    def check_deadline(self, now: float) -> None:
        """Called once a second by the server: 408 for a head or body that arrives too slowly."""
        if not (self._reading_head or self._reading_body) or self.transport.is_closing():
            return
        if self._since is None or (self._reading_body and self.flow.read_paused):
            # A new state, or the gateway itself stopped reading (the app is behind): restart the clock.
            self._since, self._body_bytes = now, 0
            return
        if self._reading_head:
            if now - self._since >= self.limits.header_timeout:
                self._head_too_slow()
        elif now - self._since >= self.limits.body_timeout + self._body_bytes * self.limits.body_seconds_per_byte:
            self._refuse(RequestTimeout("The request body arrived too slowly."))

    def _head_too_slow(self) -> None:
        if self._head_bytes == 0:
            self.transport.close()  # a connection that never sent anything gets no answer either
        else:
            self._refuse(RequestTimeout(f"The request head did not arrive within {self.limits.header_timeout:g} s."))

    # Refusals

    def _begin_head(self) -> None:
        self._reading_head = True
        self._since = None
        self._head_bytes = 0

    def _stop_parsing(self, error: GatewayError) -> NoReturn:
        self._refusal = error
        raise _Refused(error.detail)

    def _refuse(self, error: GatewayError) -> None:
        """Answer ``error`` and close the connection: at once for the request being read, after the earlier
        (pipelined) requests' responses for a refused head, since responses must keep the requests' order."""
        if self.transport.is_closing() or self._deferred_refusal is not None:
            return
        client = self.client[0] if self.client else "?"
        log.info("refused a request from %s: %d %s", client, error.status, error.detail)
        reading_body = self._reading_body
        self._reading_head = self._reading_body = False
        if not reading_body and self._responses_pending():
            self._deferred_refusal = error
            self.flow.pause_reading()
            return
        cycle = self.cycle
        if reading_body and cycle is not None:
            if not cycle.response_complete:
                # This request's app is running: its receive now returns http.disconnect, its sends go nowhere.
                cycle.disconnected = True
                cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()  # it was answered (or is being): a second response would be a lie
                return
        self.transport.write(self._refusal_response(error))
        self.transport.close()

    def _responses_pending(self) -> bool:
        # The latest request's response completes last: responses go out in order.
        return self.cycle is not None and not self.cycle.response_complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred_refusal is not None and not self._responses_pending() and not self.transport.is_closing():
            self.transport.write(self._refusal_response(self._deferred_refusal))
            self.transport.close()

    def _refusal_response(self, error: GatewayError) -> bytes:
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        content_type, body = refusal_body(path, error)
        lines = [STATUS_LINE[error.status]]
        for name, value in [*self.server_state.default_headers, *refusal_headers(content_type, body, error)]:
            lines += [name, b": ", value, b"\r\n"]
        return b"".join([*lines, b"\r\n", body])


async def _too_many_connections(scope: Scope, receive: Receive, send: Send) -> None:
    # Read a small body first: closing with request bytes unread resets the connection, and a reset can
    # reach the client before the 429 does. A larger body is not worth reading for a refusal.
    received = 0
    while received <= REFUSED_BODY_READ_BYTES:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    error = TooManyConnections(
        "Too many open connections from your address; close some or retry later.", headers={"Retry-After": "5"}
    )
    content_type, body = refusal_body(scope["path"], error)
    await send({"type": "http.response.start", "status": 429, "headers": refusal_headers(content_type, body, error)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GatewayServer(uvicorn.Server):
    """uvicorn's server, checking the request deadlines and draining in-flight requests on shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_seconds: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._grace_seconds = grace_seconds

    async def on_tick(self, counter: int) -> bool:
        if counter % CHECK_EVERY_TICKS == 0:
            self.check_deadlines()
        return await super().on_tick(counter)

    def check_deadlines(self) -> None:
        now = asyncio.get_running_loop().time()
        for connection in list(self.server_state.connections):
            if isinstance(connection, GatewayHttpProtocol):
                connection.check_deadline(now)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop accepting first (uvicorn does it again, harmlessly), so that the clients of the streams the
        # drain ends reconnect elsewhere rather than here.
        for server in self.servers:
            server.close()
        self._drain.begin(self._grace_seconds)
        await super().shutdown(sockets)


def serve(
    app: ASGIApp, drain: Drain, settings: ServerSettings, log_level: str, listener: socket.socket | None = None
) -> None:
    """Run ``app`` until SIGINT or SIGTERM, then drain it (gateway/drain.py) and run its lifespan shutdown.
    ``listener``: a socket already bound (gateway.exclusive), so a taken port failed before the lifespan."""
    protocol = GatewayHttpProtocol.configured(ServerLimits.from_settings(settings))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,
        access_log=settings.access_log,
        # The edge (gateway.edge) decides whom to believe about the client, from MCPGW_SERVER__TRUSTED_PROXIES;
        # uvicorn's own X-Forwarded-For handling would trust any local process (FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        http=protocol,
        ws="none",  # the gateway serves no WebSocket; an upgrade is answered as plain HTTP
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds) + SHUTDOWN_BACKSTOP_SECONDS,
    )
    GatewayServer(config, drain, settings.shutdown_grace_seconds).run(sockets=[listener] if listener else None)
