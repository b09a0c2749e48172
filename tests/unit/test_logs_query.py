"""The /logs options: ``since`` parsing and the SSE framing of a followed log (gateway.control.resources)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.control.resources import parse_since, sse_lines
from gateway.errors import InvalidRequest


def test_since_is_seconds_ago_or_an_rfc3339_timestamp() -> None:
    assert parse_since(None) is None
    ago = parse_since("300")
    assert ago is not None and abs((datetime.now(UTC) - ago) - timedelta(seconds=300)) < timedelta(seconds=2)
    assert parse_since("2026-01-31T10:00:00Z") == datetime(2026, 1, 31, 10, tzinfo=UTC)
    assert parse_since("2026-01-31T12:00:00.5+02:00") == datetime(2026, 1, 31, 10, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "-1", "1.5", "yesterday", "2026-01-31", "2026-01-31T10:00:00", "9" * 20])
def test_anything_else_is_a_400_naming_since(value: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_since(value)
    assert [p.field for p in raised.value.problems] == ["since"]


async def test_each_line_is_one_event_with_keepalives_between() -> None:
    async def lines() -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.25)
        yield "multi\nline\r"

    frames = [frame async for frame in sse_lines(lines(), keepalive=0.1)]
    assert frames[0] == b": following\n\n"
    assert frames[1] == b"data: first\n\n"
    assert b": keepalive\n\n" in frames[2:-1]
    assert frames[-1] == b"data: multi\ndata: line\n\n"


async def test_a_reader_that_goes_away_closes_the_runtime_stream() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "x"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    stream = sse_lines(endless(), keepalive=1)
    assert await anext(stream) == b": following\n\n"
    assert await anext(stream) == b"data: x\n\n"
    await stream.aclose()  # what Starlette does when the client disconnects
    await asyncio.wait_for(closed.wait(), 2)


async def test_a_broken_runtime_stream_ends_with_an_error_event() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "ok"
        raise RuntimeError("kubelet went away")

    frames = [frame async for frame in sse_lines(broken(), keepalive=1)]
    assert frames[-2:] == [b"data: ok\n\n", b"event: error\ndata: [gateway] the log stream broke off\n\n"]
