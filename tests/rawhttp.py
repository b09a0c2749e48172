"""HTTP/1.1 over a bare socket, for attack tests: sends exactly the bytes given (repeated headers, list
syntax, odd framing), which client libraries would merge, reorder or refuse to send."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    host: str = "127.0.0.1",
    timeout: float = 15.0,
    source: str | None = None,
) -> RawResponse:
    """One request on a fresh connection (``Connection: close`` is added); the whole response is read.
    ``source`` binds the client side (``127.0.0.2`` is another loopback peer on Linux)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    source_address = (source, 0) if source else None
    with socket.create_connection((host, port), timeout=timeout, source_address=source_address) as sock:
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_response(received)


def parse_response(data: bytes) -> RawResponse:
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    chunked = any(n == "transfer-encoding" and "chunked" in v.lower() for n, v in headers)
    return RawResponse(status, headers, dechunk(rest) if chunked else rest)


def dechunk(data: bytes) -> bytes:
    """The body of a chunked message; raises ValueError when the terminating zero-size chunk is missing."""
    body = b""
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise ValueError("truncated chunked body: no terminating chunk")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body += data[:size]
        data = data[size + 2 :]
