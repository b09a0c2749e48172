"""Forwarding one MCP HTTP exchange to a replica, streaming both ways.

The request body is streamed to the replica as it arrives (bounded by the body limit); the response is
relayed chunk by chunk, so SSE events reach the client as the replica emits them. When the client goes
away, the upstream request is cancelled and its connection released.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Message, Receive, Send

from gateway.errors import PayloadTooLarge
from gateway.proxy.upstream import UpstreamClient, UpstreamConnectError, UpstreamError, UpstreamResponse

SMALL_RESPONSE_BYTES = 64 * 1024
"""A non-SSE reply with a Content-Length up to this is read whole and sent downstream in one message."""
DISCONNECT_WATCH_DELAY_SECONDS = 0.1
"""How long a request waits for the replica's answer before the proxy starts watching for the client going
away. Most replies come sooner, and then no watch task is ever made (a task per call costs CPU on the hot
path); a client that abandons a request to a hung replica has it cancelled within this delay."""


class ClientDisconnected(Exception):
    """The client closed the connection; there is nobody left to answer."""


@dataclass
class UpstreamRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    has_body: bool
    body_limit: int
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


ResponseStart = Callable[[UpstreamResponse], Awaitable[list[tuple[bytes, bytes]]]]
Fallback = Callable[[UpstreamConnectError], Awaitable[UpstreamRequest | None]]


async def forward(
    client: UpstreamClient,
    request: UpstreamRequest,
    receive: Receive,
    send: Send,
    on_response: ResponseStart,
    fallback: Fallback | None = None,
) -> None:
    """Send ``request`` upstream and relay the answer. ``on_response`` sees the upstream response before
    anything is sent downstream and returns the headers to send (it may raise to answer differently).
    When the connection is refused, ``fallback`` may name another request to send instead (the body was
    not sent, so nothing is lost or sent twice). Upstream failures before anything was sent downstream
    propagate as :class:`UpstreamError`."""
    body = RequestBody(receive, request.body_limit)
    content: bytes | AsyncIterator[bytes] | None = None
    if request.has_body:
        # A whole body goes up as bytes (one write, no generator); only a body still arriving is streamed.
        whole = await body.read_if_whole()
        content = whole if whole is not None else body.stream()
    else:
        await body.drain()
    try:
        response = await _send_until_disconnect(body, _send(client, request, content, fallback))
    except UpstreamError as exc:
        if body.too_large is not None:
            raise body.too_large from exc
        raise
    try:
        headers = await on_response(response)
        if _is_small(response):
            # Nothing to stream: read it whole and answer in one message, without the relay and
            # disconnect-watch tasks (two task creations and cancellations per call in the profile).
            payload = await response.read()
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await _relay_until_disconnect(response, body, send)
    finally:
        response.close()


async def _send(
    client: UpstreamClient,
    request: UpstreamRequest,
    content: bytes | AsyncIterator[bytes] | None,
    fallback: Fallback | None,
) -> UpstreamResponse:
    while True:
        try:
            return await client.send(
                request.method, request.url, request.headers, content, request.read_timeout, request.guarded
            )
        except UpstreamConnectError as exc:
            # A body still streaming in cannot be replayed; bytes (or no body) can.
            replayable = content is None or isinstance(content, bytes)
            alternative = await fallback(exc) if fallback is not None and replayable else None
            if alternative is None:
                raise
            request = alternative


async def _send_until_disconnect(body: RequestBody, sending: Awaitable[UpstreamResponse]) -> UpstreamResponse:
    """Await ``sending`` in this task, cancelling it when the client goes away first (then
    :class:`ClientDisconnected`), so an abandoned request never holds a connection (nor its bulkhead
    slots) to a hung replica until the read timeout. While a body is still streaming in, its reader sees a
    disconnect itself; once it is complete, the watch takes over."""
    current = asyncio.current_task()
    assert current is not None
    watch = _DisconnectWatch(body, current)
    timer = asyncio.get_running_loop().call_later(DISCONNECT_WATCH_DELAY_SECONDS, watch.start)
    try:
        return await sending
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


async def _relay_until_disconnect(response: UpstreamResponse, body: RequestBody, send: Send) -> None:
    async def relay() -> None:
        async for chunk in response.aiter_raw():
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    relay_task = asyncio.create_task(relay())
    watch_task = asyncio.create_task(body.wait_for_disconnect())
    try:
        done, _ = await asyncio.wait({relay_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relay_task, watch_task):
            task.cancel()
        for task in (relay_task, watch_task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    failure = relay_task.exception() if relay_task in done and not relay_task.cancelled() else None
    # An upstream that breaks mid-stream leaves the client a truncated stream, which MCP clients handle;
    # anything else is a bug and must surface.
    if failure is not None and not isinstance(failure, UpstreamError | OSError):
        raise failure
