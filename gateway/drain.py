"""Graceful shutdown of the exchanges in flight: drain, then a deadline.

On SIGTERM the server stops accepting connections and starts the :class:`Drain` (gateway/server.py):

1. *Draining.* Open GET event streams end at once, cleanly (the chunked body's last, empty chunk). An
   MCP client's GET stream only waits for server notifications and the client reconnects it, to another
   replica, so holding it would only keep this process alive for nothing. Every other request (a POST
   waiting for a tool, a POST streaming its progress, a control-plane call) may finish.
2. *Deadline* (``MCPGW_SERVER__SHUTDOWN_GRACE_SECONDS`` later). What is still running is cancelled and
   answered in a form the client understands: a request with no response yet gets 503 with a JSON-RPC
   error (problem+json outside MCP paths), an event stream its last chunk. A plain body already half
   sent cannot be completed honestly; the server closes that connection, so the client sees it cut.

:class:`DrainGuard` is the outermost ASGI layer: it tracks each request's task and what its response
has sent, which is all the drain needs. Ending by cancellation needs no cooperation from the proxy or
the control plane, and it is what uvicorn would do at its own time-out, only with a proper answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ShuttingDown
from gateway.refusals import refusal_body, refusal_headers

log = logging.getLogger(__name__)

SHUTTING_DOWN = "The gateway is shutting down; send the request again (another replica will answer it)."


class _Exchange:
    """One request in flight: its task and how far its response got."""

    __slots__ = ("_drain", "_send", "complete", "ended", "method", "path", "start", "task")

    def __init__(self, drain: Drain, task: asyncio.Task[object], scope: Scope, send: Send) -> None:
        self._drain = drain
        self._send = send
        self.task = task
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.start: Message | None = None
        self.complete = False
        self.ended = False
        """Cancelled by the drain: the guard answers what the app left unanswered."""

    def send(self, message: Message) -> Awaitable[None]:
        # Not a coroutine of its own: the usual path hands back the server's send, one frame fewer a message.
        if message["type"] == "http.response.start":
            self.start = message
        elif not message.get("more_body", False):
            self.complete = True
        if self._drain.draining:
            return self._send_while_draining(message)
        return self._send(message)

    async def _send_while_draining(self, message: Message) -> None:
        await self._send(message)
        if message is self.start and self.is_idle_stream():
            self.end()  # a GET stream opened while draining: it would only hold the shutdown

    def is_event_stream(self) -> bool:
        if self.start is None:
            return False
        return any(
            name.lower() == b"content-type" and value.startswith(b"text/event-stream")
            for name, value in self.start.get("headers", [])
        )

    def is_idle_stream(self) -> bool:
        """A GET event stream: it carries server notifications only, so ending it loses no reply."""
        return self.method == "GET" and not self.complete and self.is_event_stream()

    def end(self) -> None:
        if not self.ended and not self.complete:
            self.ended = True
            self.task.cancel()

    async def finish(self) -> None:
        """Complete the response the cancelled app left unfinished, when that can be done honestly."""
        if self.complete:
            return
        self.complete = True
        if self.start is None:
            error = ShuttingDown(SHUTTING_DOWN)
            content_type, body = refusal_body(self.path, error)
            headers = refusal_headers(content_type, body, error)
            await self._send({"type": "http.response.start", "status": error.status, "headers": headers})
            await self._send({"type": "http.response.body", "body": body, "more_body": False})
        elif self.is_event_stream():
            # Events are self-delimiting: ending the chunked body here leaves the client whole events.
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        # Else a plain body is half sent: returning without completing it makes uvicorn close the connection.


class Drain:
    """The shutdown phases, started by the server and applied by :class:`DrainGuard`."""

    def __init__(self) -> None:
        self.draining = False
        self.expired = False
        self._exchanges: set[_Exchange] = set()
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        return len(self._exchanges)

    def begin(self, grace_seconds: float) -> None:
        """Phase 1: end the idle event streams now, and everything else after ``grace_seconds``."""
        if self.draining:
            return
        self.draining = True
        streams = [e for e in self._exchanges if e.is_idle_stream()]
        log.info(
            "draining: %d request(s) in flight, ending %d event stream(s); grace %.0f s",
            len(self._exchanges),
            len(streams),
            grace_seconds,
        )
        for exchange in streams:
            exchange.end()
        self._deadline = asyncio.get_running_loop().call_later(grace_seconds, self.expire)

    def expire(self) -> None:
        """Phase 2: the grace period is over; end whatever is still running."""
        self.expired = True
        unfinished = [e for e in self._exchanges if not e.complete]
        if unfinished:
            log.warning("grace period over: ending %d unfinished request(s)", len(unfinished))
        for exchange in unfinished:
            exchange.end()

    def _track(self, exchange: _Exchange) -> None:
        self._exchanges.add(exchange)

    def _untrack(self, exchange: _Exchange) -> None:
        self._exchanges.discard(exchange)


class DrainGuard:
    """ASGI: runs each HTTP request under the drain, and answers the ones it ends."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self.drain, task, scope, send)
        self.drain._track(exchange)
        if self.drain.expired:
            exchange.end()  # arrived after the deadline (a pipelined request): answer it at once
        try:
            await self.app(scope, receive, exchange.send)
        except asyncio.CancelledError:
            if not exchange.ended:
                raise  # not ours (uvicorn's own time-out, the loop closing): let it propagate
            task.uncancel()
        finally:
            self.drain._untrack(exchange)
        if exchange.ended:
            await exchange.finish()
