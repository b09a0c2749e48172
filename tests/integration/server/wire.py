"""An attacker's HTTP/1.1 client: a bare socket, bytes sent exactly when the test says, and a response
reader that reports how the body ended (a final zero chunk, or the connection cut)."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)
    clean_end: bool = False
    """Chunked: the terminating zero-size chunk arrived. Content-Length: every byte arrived."""
    ended_at: float = 0.0
    """time.monotonic() when the body ended (or the connection was cut)."""

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, source: str | None = None, timeout: float = 15.0) -> socket.socket:
    """A connection to the gateway on 127.0.0.1; ``source`` binds the client end (127.0.0.2 is another
    loopback address on Linux, so another client as far as the gateway can tell)."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source or "127.0.0.1", 0))


def request_head(method: str, path: str, headers: list[tuple[str, str]], body_length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Reader:
    """Buffered reads from one connection; keep one per connection to read several (pipelined) responses."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self.eof = False

    def _fill(self) -> bool:
        try:
            data = self._sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self._buffer += data
        return True

    def until(self, marker: bytes) -> bytes | None:
        while marker not in self._buffer:
            if not self._fill():
                return None
        found, _, self._buffer = self._buffer.partition(marker)
        return found

    def exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            if not self._fill():
                return None
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def read_response(sock: socket.socket, on_chunk: Any = None, reader: Reader | None = None) -> WireResponse:
    """Read one response. ``on_chunk(chunk)`` is called for each chunk of a chunked body as it arrives.
    Raises EOFError when the connection closes before a whole head arrived."""
    reader = reader or Reader(sock)
    head = reader.until(b"\r\n\r\n")
    if head is None:
        raise EOFError("the connection closed before a response head arrived")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    response = WireResponse(int(status_line.split(" ", 2)[1]), headers)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        _read_chunks(reader, response, on_chunk)
    else:
        length = int(headers.get("content-length", "0"))
        body = reader.exactly(length)
        response.body, response.clean_end = (body or b""), body is not None
    response.ended_at = time.monotonic()
    return response


def _read_chunks(reader: Reader, response: WireResponse, on_chunk: Any) -> None:
    while True:
        size_line = reader.until(b"\r\n")
        if size_line is None:
            return  # cut: no terminating chunk
        size = int(size_line.split(b";")[0], 16)
        data = reader.exactly(size + 2)
        if data is None or data[size:] != b"\r\n":
            return
        if size == 0:
            response.clean_end = True
            return
        response.chunks.append(data[:size])
        response.body += data[:size]
        if on_chunk is not None:
            on_chunk(data[:size])


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes the connection (EOF or reset) within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True
