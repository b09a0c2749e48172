"""``python -m bench.app_cost [--reply json|sse] [--requests N]``: the gateway's own CPU per proxied call, in
one process, without the network: its ASGI app with the upstream stubbed, and its access-log line.

The end-to-end benchmark (``python -m bench``, ``python -m bench.ab``) measures everything a call costs the
gateway process: uvicorn, aiohttp, the kernel, the gateway's code. This isolates the gateway's code, which a
change to the proxy, the edge or the telemetry moves, from the rest, whose run-to-run noise on a shared
machine is larger than such a change: ``app`` is CPU per ``tools/call`` POST through ``create_app``'s ASGI
app (SQLite store, development identity, a registered ``url`` adapter, metrics on), the upstream client's
``send`` answering at once with a canned reply; ``access log`` is CPU per uvicorn access-log call as the
served gateway makes it (its logging set-up, text format, to a line-buffered file). Best of three runs.

It measures the ``gateway`` package of the working directory: to measure another checkout (one without this
file), ``cd OTHER_TREE && python /path/to/this/bench/app_cost.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import uvloop
from multidict import CIMultiDict, CIMultiDictProxy

REPLY = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"42"}],"isError":false}}'
BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 40}}}
).encode()
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"x-dev-userid", b"bench"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/json, text/event-stream"),
    (b"mcp-protocol-version", b"2026-07-28"),
    (b"mcp-method", b"tools/call"),
    (b"mcp-name", b"add"),
    (b"content-length", str(len(BODY)).encode()),
]
ACCESS_TEMPLATE = '%s - "%s %s HTTP/%s" %d'
ACCESS_ARGS = ("127.0.0.1:54321", "POST", "/adapters/bench/mcp", "1.1", 200)


class _Reply:
    """What the upstream client hands the proxy: a small JSON reply, or a one-event SSE stream."""

    def __init__(self, sse: bool) -> None:
        self.status_code = 200
        self.is_success = True
        self._sse = sse
        kind = [("content-type", "text/event-stream")] if sse else [("content-type", "application/json")]
        length = [] if sse else [("content-length", str(len(REPLY)))]
        self.headers = CIMultiDictProxy(CIMultiDict([("date", "Mon, 30 Nov 2026 12:00:00 GMT"), *kind, *length]))

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    async def read(self) -> bytes:
        return REPLY

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        yield b"event: message\r\ndata: " + REPLY + b"\r\n\r\n"

    def close(self) -> None:
        return None


async def _call(app: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "root_path": "",
        "headers": list(HEADERS),
        "state": {},
        "method": "POST",
        "path": "/adapters/bench/mcp",
        "raw_path": b"/adapters/bench/mcp",
        "query_string": b"",
    }
    delivered = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise RuntimeError(f"the proxied call answered {status}")


async def _app_cost(sse: bool, requests: int) -> float:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(GatewaySettings())
    async with app.router.lifespan_context(app):
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            adapter = {"name": "bench", "url": "http://127.0.0.1:9/mcp", "requiredRoles": []}
            created = await client.post("/adapters", json=adapter, headers={"x-dev-userid": "bench"})
            if created.status_code != 201:
                raise RuntimeError(f"registering the adapter failed: {created.text}")
        proxy = app.state.mcp_proxy

        async def reply(*_: Any, **__: Any) -> _Reply:
            return _Reply(sse)

        async def routable(_: str) -> bool:
            return True  # nothing listens on the URL: no background probe may take the adapter out

        proxy._client.send = reply
        proxy._replicas._runtime.url_routable = routable
        for _ in range(1000):
            await _call(app)
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(requests):
                await _call(app)
            best = min(best, (time.process_time() - start) / requests)
        return best


def _access_log_cost(records: int) -> float:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from gateway.telemetry import logs

    log = tempfile.NamedTemporaryFile("w", buffering=1, suffix=".log")  # noqa: SIM115 (open for the whole run)
    stderr, sys.stderr = sys.stderr, log  # configure_logging's handler writes to sys.stderr, as when served
    try:
        logs.configure_logging("text", "info")
    finally:
        sys.stderr = stderr
    logger: Any = logging.getLogger("uvicorn.access")
    callerless = getattr(logs, "CallerlessLogger", None)  # what the gateway's HTTP protocol uses, where it exists
    if callerless is not None:
        logger = callerless(logger, RequestResponseCycle.send)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(records):
            logger.info(ACCESS_TEMPLATE, *ACCESS_ARGS)
        best = min(best, (time.process_time() - start) / records)
    logging.getLogger().handlers.clear()
    log.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.app_cost", description=__doc__)
    parser.add_argument("--reply", choices=("json", "sse"), default="json", help="the stubbed upstream's reply")
    parser.add_argument("--requests", type=int, default=20_000, help="calls (and log lines) per run")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())  # the checkout in the working directory, not the installed one
    os.environ.update({"MCPGW_ROUTER__REPLICAS": "0", "MCPGW_SERVER__DATA_DIR": tempfile.mkdtemp()})
    line = _access_log_cost(args.requests)
    app = uvloop.run(_app_cost(args.reply == "sse", args.requests))
    print(
        f"{os.getcwd()}: CPU per call, best of 3 x {args.requests}: app ({args.reply} reply) {app * 1e6:.1f} µs, "
        f"access-log line {line * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
