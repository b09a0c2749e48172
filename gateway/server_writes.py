"""One write per small response: the transport as the gateway's HTTP protocol and its response cycles see it.

uvicorn writes a response's status line and headers, then its body, with two ``transport.write`` calls, and
uvloop sends each at once: two system calls and two TCP segments per reply, and the client wakes up twice.
:class:`CoalescingTransport` holds a response's first write (its head) until the next write (its body), so
a small reply leaves in one ``writev``; or until the event loop's next turn at the latest, so the head of a
streamed reply (SSE) is not delayed: nothing is buffered across an await. Everything that writes, closes or
ends the connection through it sends the held head first, so bytes keep their order.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport(asyncio.Transport):
    """Wraps a connection's transport; :meth:`hold_next_write` marks the start of a response."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._hold_next = False
        self._held: bytes | None = None

    def hold_next_write(self) -> None:
        """The next write starts a response (its head, or an interim ``100 Continue``): hold it."""
        self._hold_next = True

    def flush(self) -> None:
        """Send the held head, if any (also the loop's callback after the turn that held it)."""
        held, self._held = self._held, None
        # A connection that closed meanwhile (the client left) takes nothing more, as its transport would.
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.writelines((held, data))  # one writev
        elif self._hold_next:
            self._hold_next = False
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.flush()
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + (len(self._held) if self._held is not None else 0)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()
