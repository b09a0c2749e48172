"""``python -m bench.server_cost [--requests N] [--reps R]``: what the request limits and the shutdown drain
cost per request (gateway/server.py, gateway/drain.py).

Times, in microseconds per request, a typical proxied POST (ten headers, a small JSON-RPC body) fed to
uvicorn's stock httptools protocol and to the gateway's, on one keep-alive connection with an in-memory
transport and an app that answers at once; and a bare ASGI call with and without ``DrainGuard``. Both run
on uvloop like the gateway; repetitions are interleaved and the fastest of each is kept (noise only adds).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.drain import Drain, DrainGuard
from gateway.server import GatewayHttpProtocol, ServerLimits
from gateway.settings import ServerSettings

BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
REQUEST = (
    b"POST /adapters/bench-json/mcp HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: python-aiohttp/3.14\r\n"
    b"Accept: application/json, text/event-stream\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Content-Type: application/json\r\nMcp-Session-Id: 0f8e4b3c2a1d4e5f9a8b7c6d5e4f3a2b\r\n"
    b"Mcp-Protocol-Version: 2025-11-25\r\nX-Dev-UserId: bench\r\nX-Dev-Roles: mcp.user\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class _Transport(asyncio.Transport):
    """Accepts writes and discards them; a keep-alive connection that never closes."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass  # uvicorn's keep-alive time-out closes the idle connection at the end

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})


async def _protocol_run(protocol_class: type[asyncio.Protocol], requests: int) -> float:
    config = uvicorn.Config(_answer, http=protocol_class, ws="none", lifespan="off", access_log=False)
    config.load()
    state = ServerState()
    protocol = protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    protocol.connection_made(_Transport())
    started = time.perf_counter()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        for task in list(state.tasks):  # the app's task, which answers at once
            await task
    return (time.perf_counter() - started) / requests * 1e6


async def _guard_run(app: Any, requests: int) -> float:
    scope = {"type": "http", "method": "POST", "path": "/adapters/bench-json/mcp", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Any) -> None:
        pass

    started = time.perf_counter()
    for _ in range(requests):
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def _measure(requests: int, reps: int) -> dict[str, float]:
    gateway_protocol = GatewayHttpProtocol.configured(ServerLimits.from_settings(ServerSettings()))
    guarded = DrainGuard(_answer, Drain())
    runs: dict[str, list[float]] = {"stock": [], "gateway": [], "bare": [], "guarded": []}
    for _ in range(reps):
        runs["stock"].append(await _protocol_run(HttpToolsProtocol, requests))
        runs["gateway"].append(await _protocol_run(gateway_protocol, requests))
        runs["bare"].append(await _guard_run(_answer, requests))
        runs["guarded"].append(await _guard_run(guarded, requests))
    return {name: min(values) for name, values in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_cost", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per measurement (bounded loop)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    best = uvloop.run(_measure(args.requests, args.reps))
    print(
        f"µs per request (best of {args.reps} × {args.requests}): "
        f"protocol stock {best['stock']:.2f}, gateway {best['gateway']:.2f} "
        f"(+{best['gateway'] - best['stock']:.2f}); "
        f"ASGI call bare {best['bare']:.2f}, with DrainGuard {best['guarded']:.2f} "
        f"(+{best['guarded'] - best['bare']:.2f})"
    )


if __name__ == "__main__":
    main()
