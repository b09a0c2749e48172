"""The fastmcp proxy peer; runs inside ``.cache/bench-peers/fastmcp`` (its own venv), started by ``bench.peers``.

``python fastmcp_proxy.py --upstream URL --port P [--shared]`` serves ``create_proxy(...)`` over streamable
HTTP on 127.0.0.1:P/mcp with fastmcp's defaults (stateful front sessions, SSE replies, its uvicorn log level):

* default: ``create_proxy(URL)``, fastmcp's documented form: a fresh upstream client (and so a new upstream
  MCP session, its handshake included) for every request, in the era of the front request;
* ``--shared``: ``create_proxy(client)`` with an already connected ``Client(URL)``, the documented way to reuse
  one upstream session for every request (fastmcp warns that concurrent requests then share its context).

This file imports fastmcp, which the repository's own environment does not have; it is never imported by
the harness.
"""

from __future__ import annotations

import argparse
import asyncio

from fastmcp import Client
from fastmcp.server import create_proxy


async def serve(upstream: str, port: int, shared: bool) -> None:
    if not shared:
        proxy = create_proxy(upstream, name="bench-fastmcp-default")
        await proxy.run_http_async(host="127.0.0.1", port=port, show_banner=False)
        return
    async with Client(upstream) as client:
        proxy = create_proxy(client, name="bench-fastmcp-shared")
        await proxy.run_http_async(host="127.0.0.1", port=port, show_banner=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True, help="the upstream's streamable HTTP URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--shared", action="store_true", help="one connected upstream client for every request")
    args = parser.parse_args()
    asyncio.run(serve(args.upstream, args.port, args.shared))


if __name__ == "__main__":
    main()
