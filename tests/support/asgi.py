"""An ASGI app driven in process by an httpx client, with the response **streamed**.

httpx's own ``ASGITransport`` runs the app to completion and buffers the whole body before it returns a
response, which cannot carry an SSE stream that stays open, nor a long-lived ``GET`` event stream. Here
the app runs as a task of the caller's event loop and its ``http.response.body`` chunks reach the response
stream as they are sent:

- the response is returned as soon as the app sent ``http.response.start``;
- each body chunk is handed over through a queue the moment the app sends it;
- closing the response before its end (``response.aclose()``, leaving ``client.stream(...)``) makes the
  app's next ``receive()`` return ``http.disconnect``, as uvicorn does when a client goes away; later
  ``send`` calls are dropped, as uvicorn drops them;
- an exception of the app surfaces where the caller is: from the request before the response started,
  from reading the body after that, from ``aclose`` once the caller stopped reading (except the failure
  of an app that was told the client left);
- every app task is awaited, or cancelled after a grace period, when its response is closed and at the
  latest when the transport (the client) is closed: nothing is left running.

The scope is the one uvicorn gives (ASGI ``spec_version`` 2.3, ``http_version`` 1.1, ``client`` and
``server`` addresses), so apps that look at it behave as they do behind uvicorn.

:class:`StreamingASGITransport` is for ``httpx`` clients, :class:`StreamingASGITransport2` for ``httpx2``
(the ``mcp`` SDK's client); both are thin layers over one :class:`AsgiDriver`::

    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://127.0.0.1") as client:
        async with client.stream("GET", "/events") as response:
            async for line in response.aiter_lines():
                ...


:func:`running_lifespan` runs an app's lifespan in a task of its own, for fixtures whose setup and teardown
run in different tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import httpx2

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DEFAULT_CLOSE_GRACE_SECONDS = 5.0
"""How long closing a response, or the transport, waits for an app task to end before cancelling it."""

_END = object()
"""Queue item: the body is complete."""


class AppReturnedEarly(RuntimeError):
    """The app returned without starting or without completing its response (uvicorn answers 500 or
    closes the connection; here the caller gets this exception)."""


class _Exchange:
    """One request: the app task, what it sent so far, and whether the client has gone."""

    def __init__(self, driver: AsgiDriver, scope: dict[str, Any], body: AsyncIterable[bytes]) -> None:
        loop = asyncio.get_running_loop()
        self._driver = driver
        self._scope = scope
        self._body = body.__aiter__()
        self._body_done = False
        self.started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = loop.create_future()
        self.chunks: asyncio.Queue[object] = asyncio.Queue()
        self.complete = False
        """The app sent its last body chunk."""
        self.disconnected = asyncio.Event()
        """Set when the client closed the response early, or once the response is complete (uvicorn's
        ``receive`` answers ``http.disconnect`` after the response too)."""
        self.closed_early = False
        self.failure_seen = False
        """The app's exception has reached the caller (or never needs to)."""
        self.task = loop.create_task(self._run(), name=f"asgi {scope['method']} {scope['path']}")
        # Marks the exception retrieved (no "never retrieved" log); unseen_failure() still reads it.
        self.task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _receive(self) -> Message:
        if not self._body_done and not self.disconnected.is_set():
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self.closed_early:
            return  # uvicorn drops whatever an app sends after its client went away
        kind = message["type"]
        if not self.started.done():
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self.started.set_result((int(message["status"]), headers))
            return
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after response already completed.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
        body = message.get("body", b"")
        if body and self._scope["method"] != "HEAD":
            self.chunks.put_nowait(bytes(body))
        if not message.get("more_body", False):
            self.complete = True
            self.chunks.put_nowait(_END)
            self.disconnected.set()

    async def _run(self) -> None:
        try:
            await self._driver.app(self._scope, self._receive, self._send)
        except asyncio.CancelledError:
            self._hand_over(AppReturnedEarly("the ASGI app was cancelled"))
            raise
        except Exception as exc:
            self._hand_over(exc)
            raise
        if not self.started.done():
            self._hand_over(AppReturnedEarly("the ASGI app returned without starting a response"))
        elif not self.complete:
            self._hand_over(AppReturnedEarly("the ASGI app returned without completing its response"))

    def _hand_over(self, exc: BaseException) -> None:
        """Give ``exc`` to whoever waits: for the response to start, or for the next chunk. When nobody does
        (the response is complete, or was closed early), the task's own exception is what counts (see
        :meth:`unseen_failure`)."""
        if not self.started.done():
            self.started.set_exception(exc)
        elif not self.complete and not self.closed_early:
            self.chunks.put_nowait(exc)
        else:
            return
        self.failure_seen = True

    async def body(self) -> AsyncIterator[bytes]:
        while True:
            item = await self.chunks.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item

    def unseen_failure(self) -> BaseException | None:
        """The app's exception, once its task ended, unless the caller already had it or the app was told
        that its client had gone (it may then fail in any way it likes: uvicorn only logs that)."""
        if not self.task.done() or self.task.cancelled() or self.failure_seen or self.closed_early:
            return None
        failure = self.task.exception()
        self.failure_seen = True
        return failure

    async def close(self) -> None:
        """The client is done with the response. Before its end: the app's next ``receive`` says
        ``http.disconnect`` and the app gets up to the driver's grace period to end. After its end the app
        may still run (background work after the response): the transport's ``aclose`` waits for it."""
        if not self.complete:
            self.closed_early = True
            self.disconnected.set()
            await self._driver.settle(self)
        elif self.task.done():
            self._driver.forget(self)
        failure = self.unseen_failure()
        if failure is not None:
            raise failure


class AsgiDriver:
    """Runs requests against ``app`` on the caller's event loop; shared by both transports.

    ``client`` is the peer address the app sees (uvicorn's ``scope["client"]``); ``close_grace`` bounds
    how long a response closed early (and :meth:`aclose`) waits for an app task before cancelling it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        root_path: str = "",
        close_grace: float = DEFAULT_CLOSE_GRACE_SECONDS,
    ) -> None:
        self.app = app
        self.client = client
        self.root_path = root_path
        self.close_grace = close_grace
        self._live: set[_Exchange] = set()
        """Exchanges whose app task may still run: dropped by :meth:`aclose`, or as they are closed."""

    def scope(self, method: str, url: httpx.URL | httpx2.URL, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        port = url.port or (443 if url.scheme == "https" else 80)
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": self.root_path,
            "headers": [(name.lower(), value) for name, value in headers],
            "server": (url.host, port),
            "client": self.client,
        }

    async def open(
        self, scope: dict[str, Any], body: AsyncIterable[bytes]
    ) -> tuple[int, list[tuple[bytes, bytes]], _Exchange]:
        """Start the app; return its status and headers as soon as it has sent them."""
        exchange = _Exchange(self, scope, body)
        self._live.add(exchange)
        try:
            status, headers = await asyncio.shield(exchange.started)
        except BaseException:
            # The app failed before answering (its exception is what propagates), or the caller was cancelled
            # while waiting: the client is gone. Nothing is awaited here (a cancelled caller could not): the
            # task ends by itself once it sees the disconnect, or in aclose().
            exchange.failure_seen = True
            exchange.closed_early = True
            exchange.disconnected.set()
            if exchange.task.done():
                self.forget(exchange)
            raise
        return status, headers, exchange

    def forget(self, exchange: _Exchange) -> None:
        self._live.discard(exchange)

    async def settle(self, exchange: _Exchange) -> None:
        """Wait up to the grace period for the task of ``exchange`` to end; cancel it then."""
        task = exchange.task
        if not task.done():
            await asyncio.wait({task}, timeout=self.close_grace)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.forget(exchange)

    async def aclose(self) -> None:
        """Disconnect every request still running and settle each; then raise the first app failure that
        no caller has seen."""
        live, self._live = list(self._live), set()
        for exchange in live:
            if not exchange.complete:
                exchange.closed_early = True
            exchange.disconnected.set()
        for exchange in live:
            await self.settle(exchange)
        failures = [f for f in (e.unseen_failure() for e in live) if f is not None]
        if failures:
            raise failures[0]


async def _request_body(stream: Any) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


class _ResponseStream:
    """The response body: chunks as the app sends them; ``aclose`` ends the exchange."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._exchange.body():
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.close()


class _HttpxStream(_ResponseStream, httpx.AsyncByteStream):
    pass


class _Httpx2Stream(_ResponseStream, httpx2.AsyncByteStream):
    pass


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that streams the response of an in-process ASGI app (see the module doc)."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.driver = AsgiDriver(app, **options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scope = self.driver.scope(request.method, request.url, list(request.headers.raw))
        status, headers, exchange = await self.driver.open(scope, _request_body(request.stream))
        return httpx.Response(status, headers=headers, stream=_HttpxStream(exchange), request=request)

    async def aclose(self) -> None:
        await self.driver.aclose()


class StreamingASGITransport2(httpx2.AsyncBaseTransport):
    """The same for ``httpx2`` clients (the transport the ``mcp`` SDK client is given)."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.driver = AsgiDriver(app, **options)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        scope = self.driver.scope(request.method, request.url, list(request.headers.raw))
        status, headers, exchange = await self.driver.open(scope, _request_body(request.stream))
        return httpx2.Response(status, headers=headers, stream=_Httpx2Stream(exchange), request=request)

    async def aclose(self) -> None:
        await self.driver.aclose()


@contextlib.asynccontextmanager
async def running_lifespan(app: Any) -> AsyncIterator[None]:
    """The lifespan of a Starlette or FastAPI ``app`` (``app.router.lifespan_context``), entered and exited in
    a task of its own while the block runs, as uvicorn runs it beside the requests.

    pytest-asyncio runs an async fixture's setup and its teardown in two different tasks; a lifespan holding
    an anyio task group or cancel scope (the ``mcp`` SDK's session manager) must be left in the task that
    entered it. A failure at start-up is raised here; one at shutdown on leaving the block.
    """
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def run() -> None:
        async with app.router.lifespan_context(app):
            started.set_result(None)
            await stop.wait()

    task = asyncio.get_running_loop().create_task(run(), name=f"lifespan {app!r}")
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            task.result()  # the start-up failure
            raise RuntimeError("the lifespan ended during start-up")
        yield
    finally:
        if not started.done():
            task.cancel()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
