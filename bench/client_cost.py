"""``python -m bench.client_cost [--calls N]``: what aiohttp costs per request over a bare HTTP/1.1 client.

The gateway profile puts about a third of the gateway's Python-level CPU in aiohttp. This measures how much
of that a purpose-built client could save: one process, one keep-alive connection on loopback to a minimal
httptools server, the same small JSON-RPC POST and reply as the benchmark. It reports CPU (user + system)
per request for client and server together, first through an aiohttp session as the gateway uses it
(per-request timeouts, no cookie jar, no decompression), then through a bare protocol that writes
pre-built request bytes and parses the reply with httptools. The bare client has no pool, time-outs or
error handling, so the difference is an upper bound of what replacing aiohttp could save.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from typing import cast

import aiohttp
import httptools
import uvloop

REPLY = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}]}}'
REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
HEADERS = [
    ("accept", "application/json, text/event-stream"),
    ("content-type", "application/json"),
    ("mcp-protocol-version", "2025-11-25"),
    ("x-mcp-userid", "dev"),
    ("forwarded", "for=127.0.0.1;proto=http"),
    ("x-request-id", "0123456789abcdef"),
]
WARMUP = 500


class _ReplyServer(asyncio.Protocol):
    """Answers every request on the connection with the same small JSON reply."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self._parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(REPLY)
        self._transport.write(head + REPLY)


class _BareClient(asyncio.Protocol):
    """One keep-alive connection; each request waits for its whole reply."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self.reply: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, chunk: bytes) -> None:
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        assert self.reply is not None
        self.reply.set_result(b"".join(self._body))
        self._body = []


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _aiohttp_cost(url: str, calls: int) -> float:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=300)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False) as session:

        async def one() -> None:
            response = await session.request(
                "POST", url, data=REQUEST, headers=HEADERS, timeout=timeout, allow_redirects=False
            )
            await response.read()
            response.release()

        for _ in range(WARMUP):
            await one()
        start = _cpu_seconds()
        for _ in range(calls):
            await one()
        return (_cpu_seconds() - start) / calls


async def _bare_cost(port: int, calls: int) -> float:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(_BareClient, "127.0.0.1", port)
    head = b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n" + b"".join(f"{n}: {v}\r\n".encode() for n, v in HEADERS)
    request = head + b"content-length: %d\r\n\r\n" % len(REQUEST) + REQUEST

    async def one() -> None:
        client.reply = loop.create_future()
        transport.write(request)
        await client.reply

    for _ in range(WARMUP):
        await one()
    start = _cpu_seconds()
    for _ in range(calls):
        await one()
    transport.close()
    return (_cpu_seconds() - start) / calls


async def _measure(calls: int) -> None:
    server = await asyncio.get_running_loop().create_server(_ReplyServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with_aiohttp = await _aiohttp_cost(f"http://127.0.0.1:{port}/mcp", calls)
        bare = await _bare_cost(port, calls)
    finally:
        server.close()
    print(
        f"CPU per request, client and server together ({calls} requests each): "
        f"aiohttp {with_aiohttp * 1e6:.1f} µs, bare httptools client {bare * 1e6:.1f} µs, "
        f"difference {(with_aiohttp - bare) * 1e6:.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client_cost", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="timed requests per client (bounded loop)")
    args = parser.parse_args()
    uvloop.run(_measure(args.calls))


if __name__ == "__main__":
    main()
