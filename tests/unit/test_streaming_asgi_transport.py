"""The streaming in-process ASGI transport of the fast test lane (tests/support/asgi.py): chunks arrive as
the app sends them, an early close is a disconnect the app sees, app errors surface, no task is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest

from tests.support.asgi import AppReturnedEarly, Message, Receive, Send, StreamingASGITransport, StreamingASGITransport2


class HeldStream:
    """An app that sends a first chunk, then holds its response open until released (or disconnected)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = False
        self.received: list[Message] = []
        self.request_body = b""
        self.scope: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scope = scope
        while True:
            message = await receive()
            self.request_body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        disconnect = asyncio.ensure_future(receive())
        released = asyncio.ensure_future(self.release.wait())
        done, _ = await asyncio.wait({disconnect, released}, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (disconnect, released):
            waiting.cancel()
        if disconnect in done:
            self.received.append(disconnect.result())
            return
        await send({"type": "http.response.body", "body": b"last\n", "more_body": False})
        self.finished = True


Clients = [
    pytest.param(lambda app: httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw"), id="x"),
    pytest.param(lambda app: httpx2.AsyncClient(transport=StreamingASGITransport2(app), base_url="http://gw"), id="x2"),
]


async def _other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks besides the test's own, once the loop has finalised the body iterators a test dropped."""
    for _ in range(3):
        await asyncio.sleep(0)
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


@pytest.mark.parametrize("make_client", Clients)
async def test_chunks_arrive_while_the_app_is_still_running(make_client: Callable[[Any], Any]) -> None:
    app = HeldStream()
    async with make_client(app) as client, client.stream("POST", "/events?x=1", content=b"hello") as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert await anext(lines) == "first"
        assert not app.finished  # the response is open, the app has not finished
        app.release.set()
        assert [line async for line in lines] == ["last"]
    assert app.finished
    assert app.request_body == b"hello"
    assert app.scope["path"] == "/events" and app.scope["query_string"] == b"x=1"
    assert app.scope["client"][0] == "127.0.0.1" and app.scope["server"] == ("gw", 80)
    assert not await _other_tasks()


@pytest.mark.parametrize("make_client", Clients)
async def test_closing_the_response_early_sends_the_app_a_disconnect(make_client: Callable[[Any], Any]) -> None:
    app = HeldStream()
    async with make_client(app) as client:
        async with client.stream("GET", "/events") as response:
            assert await anext(response.aiter_lines()) == "first"
        # Leaving the block closed the response: the app has seen the disconnect and ended.
        assert app.received == [{"type": "http.disconnect"}]
        assert not app.finished
        assert not await _other_tasks()


async def test_a_request_body_streams_in_as_the_client_sends_it() -> None:
    parts: list[bytes] = []
    first_part = asyncio.Event()
    more = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            first_part.set()
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def upload() -> Any:
        yield b"one"
        await more.wait()
        yield b"two"

    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw") as client:
        sending = asyncio.create_task(client.post("/", content=upload()))
        await asyncio.wait_for(first_part.wait(), timeout=5)
        assert parts == [b"one"]  # the app has the first part while the client still holds the second
        more.set()
        assert (await sending).status_code == 204
    assert parts == [b"one", b"two", b""]


class Boom(Exception):
    pass


async def test_an_app_error_before_the_response_surfaces_from_the_request() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise Boom("before")

    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw") as client:
        with pytest.raises(Boom, match="before"):
            await client.get("/")
    assert not await _other_tasks()


async def test_an_app_error_while_streaming_surfaces_from_the_body() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise Boom("midway")

    client = httpx2.AsyncClient(transport=StreamingASGITransport2(app), base_url="http://gw")
    async with client, client.stream("GET", "/") as response:
        with pytest.raises(Boom, match="midway"):
            await response.aread()
    assert not await _other_tasks()


async def test_an_app_error_after_the_response_surfaces_when_the_client_closes() -> None:
    finish = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        await finish.wait()
        raise Boom("afterwards")

    client = httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw")
    assert (await client.get("/")).text == "done"  # the response does not wait for the app to return
    finish.set()
    with pytest.raises(Boom, match="afterwards"):
        await client.aclose()
    assert not await _other_tasks()


async def test_an_app_that_returns_without_answering_is_an_error() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        return None

    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw") as client:
        with pytest.raises(AppReturnedEarly):
            await client.get("/")


async def test_an_app_that_ignores_the_disconnect_is_cancelled_after_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        try:
            await asyncio.Event().wait()  # never looks at receive()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    transport = StreamingASGITransport(app, close_grace=0.05)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        async with client.stream("GET", "/") as response:
            assert await anext(response.aiter_bytes()) == b"x"
        assert cancelled.is_set()
    assert not await _other_tasks()


async def test_a_cancelled_request_leaves_no_task_once_the_client_closes() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    client = httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://gw")
    request = asyncio.create_task(client.get("/"))
    await asyncio.sleep(0.05)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await client.aclose()
    assert not await _other_tasks()
