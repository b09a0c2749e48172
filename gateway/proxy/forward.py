"""Forwarding one MCP HTTP exchange to a replica, streaming both ways: open, then relay.

The caller reads what it must of the request body (:meth:`RequestBody.begin`), :func:`open_upstream` sends
the request and returns once the replica's status and headers arrived, and :func:`relay` passes the answer
on. The request body is streamed to the replica as it arrives (bounded by the body limit); the response is
relayed chunk by chunk, so SSE events reach the client as the replica emits them. When the client goes
away, the upstream request is cancelled and its connection released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import Message, Receive, Send

from gateway.errors import PayloadTooLarge
from gateway.proxy.upstream import UpstreamClient, UpstreamError, UpstreamResponse

T = TypeVar("T")

SMALL_RESPONSE_BYTES = 64 * 1024
"""A non-SSE reply with a Content-Length up to this is read whole and sent downstream in one message."""
DISCONNECT_WATCH_DELAY_SECONDS = 0.1
"""How long a request waits for the replica's answer, or relays a streamed one, before the proxy starts watching
for the client going away. Most replies come and end sooner, and then no watch task is ever made (a task per
call costs CPU on the hot path); a client that abandons a request to a hung replica, or a stream, has it
cancelled within this delay."""


class ClientDisconnected(Exception):
    """The client closed the connection; there is nobody left to answer."""


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    read_timeout: float | None
    guarded: bool = False
    """A user-supplied ``url`` target: connect only where the SSRF policy permits (``gateway.netguard``)."""


class RequestBody:
    """Reads the client's body from ASGI ``receive`` as an async byte stream with a size limit."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.finished = False
        self.disconnected = False
        self.too_large: PayloadTooLarge | None = None
        self._pending = b""
        self.content: bytes | AsyncIterator[bytes] | None = None
        """What goes upstream, once :meth:`begin` has read what arrived: the whole body, the stream of one
        still arriving, or None (a GET or DELETE)."""

    async def begin(self, forwarded: bool) -> None:
        """Before the request is sent: a ``forwarded`` body (not GET, DELETE) that came whole goes up as
        bytes (one write, no generator); only one still arriving is streamed. Any other body is consumed."""
        if forwarded:
            whole = await self.read_if_whole()
            self.content = whole if whole is not None else self.stream()
        else:
            await self.drain()

    @property
    def replayable(self) -> bool:
        """Whether the body may be sent again (to another replica): bytes or no body can, a stream cannot."""
        return self.content is None or isinstance(self.content, bytes)

    async def stream(self) -> AsyncIterator[bytes]:
        received = len(self._pending)
        if self._pending:
            pending, self._pending = self._pending, b""
            yield pending
        while not self.finished:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise ClientDisconnected("the client went away while sending its request")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self._limit:
                # Remembered: the HTTP client may report the aborted upload as a connection error.
                self.too_large = PayloadTooLarge(f"The MCP request body is larger than {self._limit} bytes.")
                raise self.too_large
            self.finished = not message.get("more_body", False)
            if chunk:
                yield chunk

    async def read_if_whole(self) -> bytes | None:
        """The body, when the first ASGI message holds all of it (the usual small JSON-RPC POST); else
        None, and ``stream`` then yields from where this stopped (nothing was lost)."""
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
            raise ClientDisconnected("the client went away while sending its request")
        chunk: bytes = message.get("body", b"")
        if len(chunk) > self._limit:
            raise PayloadTooLarge(f"The MCP request body is larger than {self._limit} bytes.")
        if not message.get("more_body", False):
            self.finished = True
            return chunk
        self._pending = chunk
        return None

    async def drain(self) -> None:
        """Consume a body nobody forwards (GET, DELETE) so that the next ``receive`` means disconnect."""
        async for _ in self.stream():
            pass

    async def wait_for_disconnect(self) -> None:
        while True:
            message: Message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return


async def open_upstream(client: UpstreamClient, request: UpstreamRequest, body: RequestBody) -> UpstreamResponse:
    """Send ``request`` with ``body.content``; returns once the replica's status and headers arrived.
    Raises :class:`UpstreamError` (:class:`UpstreamConnectError`: nothing reached the replica, so a
    replayable body may be sent elsewhere), :class:`PayloadTooLarge` when the body outgrew the limit on
    the way (which the HTTP client may report as a connection error), or :class:`ClientDisconnected`."""
    sending = client.send(
        request.method, request.url, request.headers, body.content, request.read_timeout, request.guarded
    )
    try:
        return await _until_disconnect(body, sending)
    except UpstreamError as exc:
        if body.too_large is not None:
            raise body.too_large from exc
        raise


async def relay(response: UpstreamResponse, headers: list[tuple[bytes, bytes]], body: RequestBody, send: Send) -> None:
    """Answer the client with ``response`` and ``headers``, until the response ends or the client leaves.
    The caller closes ``response``. Raises :class:`UpstreamError` only while nothing was sent downstream."""
    if _is_small(response):
        # Nothing to stream: read it whole and answer in one message (which the server then sends in one
        # write with the head, gateway/server_writes.py).
        payload = await response.read()
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})
        return
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    # Relayed in this task, as the opening was awaited: the disconnect watch (a timer, and a task only for a
    # stream that outlasts its delay) ends the relay when the client goes away. A relay task and a watch task
    # per streamed answer cost more than the rest of the relay.
    await _until_disconnect(body, _relay_chunks(response, send))


async def _relay_chunks(response: UpstreamResponse, send: Send) -> None:
    """The response body, chunk by chunk as it arrives, then its end."""
    try:
        async for chunk in response.aiter_raw():
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (UpstreamError, OSError):
        # An upstream that breaks mid-stream leaves the client a truncated stream (its end is never sent, so
        # the server closes the connection), which MCP clients handle; anything else is a bug and surfaces.
        return


async def _until_disconnect(body: RequestBody, work: Awaitable[T]) -> T:
    """Await ``work`` in this task, cancelling it when the client goes away first (then
    :class:`ClientDisconnected`), so an abandoned request never holds a connection (nor its bulkhead
    slots) to a hung replica until the read timeout. While a body is still streaming in, its reader sees a
    disconnect itself; once it is complete, the watch takes over."""
    current = asyncio.current_task()
    assert current is not None
    watch = _DisconnectWatch(body, current)
    # The task's own loop: asyncio.get_running_loop() would cost a getpid() system call on each request.
    timer = current.get_loop().call_later(DISCONNECT_WATCH_DELAY_SECONDS, watch.start)
    try:
        return await work
    except asyncio.CancelledError:
        if watch.cancelled_us and current.uncancel() == 0:
            raise ClientDisconnected("the client went away while the replica was answering") from None
        raise
    finally:
        timer.cancel()
        watch.stop()


class _DisconnectWatch:
    """Cancels ``task`` when the client disconnects, unless :meth:`stop` came first."""

    def __init__(self, body: RequestBody, task: asyncio.Task[object]) -> None:
        self._body = body
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._active = True
        self.cancelled_us = False

    def start(self) -> None:
        if not self._active:
            return
        loop = asyncio.get_running_loop()
        if not self._body.finished:
            # The body reader owns ``receive`` until the body is complete; look again later.
            loop.call_later(DISCONNECT_WATCH_DELAY_SECONDS, self.start)
            return
        self._watcher = loop.create_task(self._watch())

    def stop(self) -> None:
        # Synchronous, right after the awaited call returned: a watcher that wakes later sees _active False
        # and leaves the task alone.
        self._active = False
        if self._watcher is not None:
            self._watcher.cancel()

    async def _watch(self) -> None:
        await self._body.wait_for_disconnect()
        if self._active:
            self.cancelled_us = True
            self._task.cancel()


def _is_small(response: UpstreamResponse) -> bool:
    length = response.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > SMALL_RESPONSE_BYTES:
        return False
    return not response.headers.get("content-type", "").startswith("text/event-stream")
