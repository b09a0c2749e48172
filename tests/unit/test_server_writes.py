"""The coalescing transport: a response's head and a body that follows at once leave in one write; a head
whose body does not follow (a stream) leaves on the event loop's next turn; order is kept on every path."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.server_writes import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """What reached the socket: one entry per system call (a write, or a writelines' joined parts)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted


async def test_a_head_and_the_body_that_follows_leave_in_one_write() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.calls == []
    writes.write(b"body")
    assert raw.calls == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await asyncio.sleep(0)  # the loop's flush finds nothing left
    assert raw.calls == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


async def test_a_streamed_head_is_sent_on_the_next_turn_and_chunks_pass_straight_through() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"head")
    await asyncio.sleep(0)
    assert raw.calls == [b"head"]
    writes.write(b"event 1")
    writes.write(b"event 2")
    assert raw.calls == [b"head", b"event 1", b"event 2"]


async def test_only_the_first_write_of_each_response_is_held() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.write(b"not a response start")
    assert raw.calls == [b"not a response start"]
    for response in (b"one", b"two"):
        writes.hold_next_write()
        writes.write(response + b" head")
        writes.write(response + b" body")
    assert raw.calls == [b"not a response start", b"one headone body", b"two headtwo body"]


async def test_closing_sends_a_held_head_first_and_aborting_drops_it() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"head")
    writes.close()
    assert raw.calls == [b"head"] and raw.closed

    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"head")
    writes.abort()
    await asyncio.sleep(0)
    assert raw.calls == [] and raw.aborted


async def test_a_connection_closed_meanwhile_gets_no_late_head() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"head")
    raw.closed = True  # the client went away before the loop's next turn
    await asyncio.sleep(0)
    assert raw.calls == []


async def test_writelines_sends_a_held_head_first() -> None:
    raw = RecordingTransport()
    writes = CoalescingTransport(raw, asyncio.get_running_loop())
    writes.hold_next_write()
    writes.write(b"head")
    writes.writelines([b"a", b"b"])
    assert raw.calls == [b"head", b"ab"]
