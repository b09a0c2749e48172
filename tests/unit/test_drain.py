"""The shutdown drain's decisions, in-process: which request ends when, and how it is answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.drain import Drain, DrainGuard

SSE = [(b"content-type", b"text/event-stream")]


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def _never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class _App:
    """Sends ``start`` (when given) and a first chunk, then waits forever, like a held stream or a hung call."""

    def __init__(self, headers: list[tuple[bytes, bytes]] | None) -> None:
        self.headers = headers
        self.waiting = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.headers is not None:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        self.waiting.set()
        await asyncio.Event().wait()


async def _run(app: _App, drain: Drain, method: str, path: str) -> tuple[asyncio.Task[None], list[Message]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    task = asyncio.create_task(DrainGuard(app, drain)(_scope(method, path), _never, send))
    await app.waiting.wait()
    return task, sent


def _body(sent: list[Message]) -> Any:
    return json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


async def test_an_open_get_stream_ends_cleanly_as_soon_as_draining_starts() -> None:
    drain = Drain()
    task, sent = await _run(_App(SSE), drain, "GET", "/mcp")
    drain.begin(grace_seconds=60)
    await asyncio.wait_for(task, 1)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_post_stream_runs_until_the_deadline_then_ends_cleanly() -> None:
    drain = Drain()
    task, sent = await _run(_App(SSE), drain, "POST", "/mcp")
    drain.begin(grace_seconds=0.2)
    await asyncio.sleep(0.05)
    assert not task.done()
    await asyncio.wait_for(task, 2)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/adapters/a/mcp", b"application/json"), ("/adapters", b"application/problem+json")],
)
async def test_a_request_unanswered_at_the_deadline_gets_503_in_its_paths_error_format(
    path: str, content_type: bytes
) -> None:
    drain = Drain()
    task, sent = await _run(_App(None), drain, "POST", path)
    drain.begin(grace_seconds=0.05)
    await asyncio.wait_for(task, 2)
    assert sent[0]["status"] == 503
    assert dict(sent[0]["headers"])[b"content-type"] == content_type
    body = _body(sent)
    if content_type == b"application/json":
        assert (body["id"], body["error"]["code"]) == (None, -32000)
    else:
        assert body["status"] == 503


async def test_a_plain_body_cut_short_is_not_passed_off_as_complete() -> None:
    drain = Drain()
    task, sent = await _run(_App([(b"content-type", b"application/json")]), drain, "POST", "/mcp")
    drain.begin(grace_seconds=0.05)
    await asyncio.wait_for(task, 2)
    assert all(m.get("more_body", False) for m in sent if m["type"] == "http.response.body")


async def test_a_get_stream_that_opens_while_draining_is_ended_at_once() -> None:
    drain = Drain()
    drain.begin(grace_seconds=60)
    task, sent = await _run(_App(SSE), drain, "GET", "/mcp")
    await asyncio.wait_for(task, 1)
    assert sent[-1]["more_body"] is False


async def test_a_cancellation_that_is_not_the_drains_propagates() -> None:
    drain = Drain()
    task, sent = await _run(_App(None), drain, "POST", "/mcp")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == [] and drain.in_flight == 0
