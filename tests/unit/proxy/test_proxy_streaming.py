"""A streamed answer is relayed in the request's own task: chunk by chunk as the replica sends them, cut short
(without its end) when the replica breaks off, and ended when the client goes away, with every in-flight
count given back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from starlette.types import Message

from gateway.proxy.forward import DISCONNECT_WATCH_DELAY_SECONDS
from gateway.proxy.mcp_proxy import McpProxy
from gateway.runtimes.base import Endpoint
from tests.unit.proxy.test_proxy_pipeline import (
    INITIALIZE,
    FakeRuntime,
    LoopbackReplica,
    assert_nothing_in_flight,
    proxy_deps,
)


class StreamingReplica(LoopbackReplica):
    """Answers a POST with an event stream: the first event at once, then what the test asks for."""

    route_method = "POST"

    def __init__(self) -> None:
        self.then = "end"  # "end": a last event and the end; "break": the connection drops; "hold": nothing more
        self.gone = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        try:
            if self.then == "break":
                assert request.transport is not None
                request.transport.abort()
            elif self.then == "hold":
                for _ in range(600):  # comments only, until the connection is gone (a write then fails)
                    await asyncio.sleep(0.05)
                    await response.write(b": still here\n\n")
            else:
                await response.write(b"data: last\n\n")
                await response.write_eof()
        except ConnectionError:
            pass
        finally:
            self.gone.set()
        return response



@pytest.fixture
async def streaming() -> AsyncIterator[tuple[McpProxy, StreamingReplica]]:
    replica = StreamingReplica()
    await replica.start()
    runtime = FakeRuntime()
    runtime.ready = [Endpoint("weather-0", replica.url)]
    deps = proxy_deps(runtime=runtime)
    proxy = McpProxy(deps)
    yield proxy, replica
    await proxy.aclose()
    await replica.stop()


async def _post(proxy: McpProxy, client_leaves: asyncio.Event | None = None) -> list[Message]:
    """One POST through ``proxy``; the client goes away once ``client_leaves`` is set."""
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": INITIALIZE, "more_body": False}
        await (client_leaves or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/adapters/weather/mcp",
        "headers": [(b"host", b"gateway.test"), (b"content-type", b"application/json")],
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    await proxy.serve(scope, receive, send, "weather")
    return sent


def _body(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_stream_is_relayed_to_its_end(streaming: tuple[McpProxy, StreamingReplica]) -> None:
    proxy, _ = streaming
    sent = await _post(proxy)
    assert sent[0]["status"] == 200
    assert _body(sent) == b"data: first\n\ndata: last\n\n"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert_nothing_in_flight(proxy)


async def test_a_stream_the_replica_breaks_off_is_cut_short_without_its_end(
    streaming: tuple[McpProxy, StreamingReplica],
) -> None:
    proxy, replica = streaming
    replica.then = "break"
    sent = await _post(proxy)
    assert sent[0]["status"] == 200
    assert _body(sent) == b"data: first\n\n"
    assert all(m.get("more_body") for m in sent[1:])  # never ended: the server closes the connection
    assert_nothing_in_flight(proxy)


async def test_a_client_that_leaves_mid_stream_ends_the_relay_and_the_upstream_request(
    streaming: tuple[McpProxy, StreamingReplica],
) -> None:
    proxy, replica = streaming
    replica.then = "hold"
    leaves = asyncio.Event()
    relaying = asyncio.ensure_future(_post(proxy, leaves))
    await asyncio.sleep(2 * DISCONNECT_WATCH_DELAY_SECONDS)
    assert not relaying.done()
    leaves.set()
    sent = await asyncio.wait_for(relaying, 5)
    assert _body(sent).startswith(b"data: first\n\n")
    assert all(m.get("more_body") for m in sent[1:])
    await asyncio.wait_for(replica.gone.wait(), 5)  # the replica saw its request end
    assert_nothing_in_flight(proxy)
