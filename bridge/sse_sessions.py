"""``MCP_TRANSPORT=sse``: MCP sessions onto a server that speaks only the 2024-11-05 HTTP+SSE transport.

In that transport the client opens ``GET /sse``; the first event, ``endpoint``, names the URL to ``POST``
messages to, and every server message (responses included) comes back as a ``message`` event on the stream.
The bridge opens one such connection per downstream MCP session, at ``initialize``, and closes it on
``DELETE`` or idle expiry; the stream's messages are routed to the client's HTTP streams exactly as a stdio
child's output is (:class:`bridge.stdio_sessions.RelaySession`).

With a command (:class:`SseCommand`), the bridge starts it once, on a free loopback port given as ``$PORT``,
waits until it listens, and connects every session to that port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from bridge.config import SseTarget
from bridge.stdio_sessions import (
    RelaySession,
    SessionFactory,
    UpstreamUnavailable,
    _child_setup,
    _signal_group,
    describe,
)
from bridge.wire import dump

log = logging.getLogger("bridge")
CONNECT_TIMEOUT = 30.0
"""Seconds to wait for the SSE endpoint to answer and send its ``endpoint`` event."""
START_TIMEOUT = 120.0
"""Seconds a command may take to listen on its port (``npx`` may download the server first)."""
MAX_EVENT_CHARS = 64 * 1024 * 1024


class SseSession(RelaySession):
    """One MCP session over its own HTTP+SSE connection."""

    def __init__(
        self, session_id: str, on_exit: Callable[[RelaySession], None], client: httpx.AsyncClient,
        stream: httpx.Response, events: AsyncIterator[tuple[str, str]], endpoint: str,
    ) -> None:
        super().__init__(session_id, on_exit)
        self.endpoint = endpoint
        self._client = client
        self._stream = stream
        self._events = events
        self._post_lock = asyncio.Lock()  # keep the client's order: a POST returns once the message is taken
        self._reader = asyncio.create_task(self._pump(), name=f"bridge-sse-{session_id[:8]}")

    async def send(self, message: Any) -> None:
        if self.closed:
            raise ConnectionResetError("the SSE connection to the MCP server is closed")
        async with self._post_lock:
            try:
                response = await self._client.post(
                    self.endpoint, content=dump(message), headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable("the MCP server's message endpoint is unreachable", str(exc)) from None
        if response.status_code == 404:  # the server forgot the session (restarted, or timed it out)
            await self.terminate()
            raise ConnectionResetError("the MCP server no longer knows this session")
        if not response.is_success:
            raise UpstreamUnavailable(f"the MCP server refused the message (HTTP {response.status_code})",
                                      response.text[:200])

    async def terminate(self, grace: float = 2.0) -> None:
        """Close the SSE stream: for the server, that ends its session."""
        self.closed = True
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        with contextlib.suppress(Exception):
            await self._stream.aclose()

    async def _pump(self) -> None:
        reason = "The MCP server closed its SSE stream"
        try:
            async for event, data in self._events:
                if event == "message":
                    # A JSON text's line breaks lie between tokens, never inside strings: dropping them
                    # gives the single-line form the client streams carry.
                    self._route(data.replace("\r", "").replace("\n", "").encode())
        except asyncio.CancelledError:
            reason = "The MCP session ended"
            raise
        except httpx.HTTPError as exc:
            reason = f"The SSE stream from the MCP server failed: {exc}"
        finally:
            if not self.closed:
                log.warning("session %s: %s", self.id[:8], reason)
            self._end(reason)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """The ``(event, data)`` pairs of a text/event-stream body (the WHATWG parsing rules MCP needs)."""
    event, size = "message", 0
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data, size = "message", [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value or "message"
        elif name == "data":
            size += len(value)
            if size > MAX_EVENT_CHARS:
                raise httpx.DecodingError(f"an SSE event larger than {MAX_EVENT_CHARS} characters")
            data.append(value)


async def open_session(
    client: httpx.AsyncClient, url: str, session_id: str, on_exit: Callable[[RelaySession], None],
    within: float = CONNECT_TIMEOUT,
) -> SseSession:
    """Connect to the SSE endpoint and wait for its ``endpoint`` event.

    Raises:
        UpstreamUnavailable: unreachable, not an event stream, no endpoint in time, or one on another origin.
    """
    request = client.build_request("GET", url, headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        response = await asyncio.wait_for(client.send(request, stream=True), within)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise UpstreamUnavailable("cannot connect to the MCP server's SSE endpoint",
                                  f"{url}: {exc or 'timed out'}") from None
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or not content_type.startswith("text/event-stream"):
        await response.aclose()
        raise UpstreamUnavailable(
            f"the MCP server's SSE endpoint answered HTTP {response.status_code} ({content_type or 'no type'}), "
            "not an event stream")
    events = sse_events(response)
    try:
        endpoint = await asyncio.wait_for(_first_endpoint(events), within)
    except (httpx.HTTPError, TimeoutError, _NoEndpoint) as exc:
        await response.aclose()
        detail = "it closed the stream" if isinstance(exc, _NoEndpoint) else str(exc) or "timed out"
        raise UpstreamUnavailable("the MCP server sent no 'endpoint' event on its SSE stream",
                                  f"{url}: {detail}") from None
    target = urljoin(url, endpoint.strip())
    if _origin(target) != _origin(url):
        await response.aclose()
        raise UpstreamUnavailable("the MCP server's message endpoint is not on its SSE URL's origin", target)
    log.info("session %s: connected to %s (messages to %s)", session_id[:8], url, urlsplit(target).path)
    return SseSession(session_id, on_exit, client, response, events, target)


async def _first_endpoint(events: AsyncIterator[tuple[str, str]]) -> str:
    async for event, data in events:
        if event == "endpoint":
            return data
    raise _NoEndpoint


class _NoEndpoint(Exception):
    """The SSE stream ended before its ``endpoint`` event."""


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def sse_client() -> httpx.AsyncClient:
    """One pool for every session: a long-lived stream each, plus the POSTs (no read timeout on streams)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), trust_env=False,
                             limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))


def sse_factory(client: httpx.AsyncClient, url: Callable[[], str]) -> SessionFactory:
    """Sessions that each open their own SSE connection to ``url()``."""

    async def start(session_id: str, on_exit: Callable[[RelaySession], None]) -> RelaySession:
        return await open_session(client, url(), session_id, on_exit)

    return start


class SseCommand:
    """The command of an ``sse`` target, started once per bridge on a free loopback port."""

    def __init__(self, target: SseTarget) -> None:
        assert target.command is not None
        self.target = target
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.target.url}"

    async def start(self, within: float = START_TIMEOUT) -> None:
        """Start the command and wait until its port accepts connections.

        Raises:
            OSError: it could not be started, exited, or did not listen ``within`` seconds.
        """
        assert self.target.command is not None
        self.port = _free_port()
        parent = os.getpid()
        self.process = await asyncio.create_subprocess_exec(
            self.target.command, *self.target.args, stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PORT": str(self.port)}, preexec_fn=lambda: _child_setup(parent),
        )
        log.info("started %s (pid %s) on port %d", describe(self.target.command, self.target.args),
                 self.process.pid, self.port)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise OSError(f"the MCP server exited with code {self.process.returncode} before listening")
            if await _listening(self.port):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 0.2)
        await self.stop()
        raise OSError(f"the MCP server did not listen on $PORT ({self.port}) within {within:g}s")

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, grace: float = 5.0) -> None:
        process = self.process
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(process.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
                break
        _signal_group(process.pid, signal.SIGKILL)

    def kill_now(self) -> None:
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
