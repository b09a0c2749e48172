"""``python -m bench.virtual_servers [--quick] [--adapters 20] [--tools 25] [--requests 200]``: a virtual server.

What it measures (issue 19's targets in brackets), sequentially (one request in flight), through a real
gateway process and its real tool router process on 127.0.0.1:

* ``tools/list`` of a virtual server over ``--adapters`` adapters of ``--tools`` tools each, warm (after the
  first list, which fills the router's per-adapter list cache): p50/p95 [p50 < 10 ms];
* ``tools/call`` of one adapter tool three ways: the upstream at its own URL, ``/adapters/{name}/mcp``, and
  ``/servers/{name}/mcp``: p50/p95 and the p50 added over direct [<= 1 ms added p50 per call].

The adapters are one upstream process (``--serve-upstream``: a small MCP server with ``--tools`` cheap tools,
JSON replies) registered ``--adapters`` times as ``url`` adapters (loopback is allowed in development). Both
protocol eras are measured (2025-11-25 on one session per client; 2026-07-28 stateless). Every process it
starts is stopped on exit; results land in ``bench/results/<stamp>-servers.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import ACCEPT, SESSION_ERA, STATELESS_ERA, CallFailed, McpClient, new_http, parse_reply
from bench.procs import PYTHON, Child, ProcessGroup, free_port, wait_http
from bench.report import RESULTS, save
from bench.stack import BENCH_USER, _request

SERVER = "bench-vs"
_META = {"io.modelcontextprotocol/protocolVersion": STATELESS_ERA, "io.modelcontextprotocol/clientCapabilities": {}}


def serve_upstream(port: int, tools: int) -> None:
    """The upstream: ``tool_00`` .. ``tool_NN``, each adding two integers, replies as JSON."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="bench-many-tools", version="1.0.0", log_level="WARNING")
    for index in range(tools):

        def add(a: int, b: int) -> int:
            return a + b

        server.add_tool(add, name=f"tool_{index:02d}", description=f"Tool number {index}: adds two numbers")
    server.run("streamable-http", host="127.0.0.1", port=port, json_response=True, max_sessions=50_000)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 3),
    }


async def _list_all(http: aiohttp.ClientSession, url: str) -> tuple[int, int]:
    """One stateless (2026-07-28) ``tools/list``, every page: (tools, pages)."""
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": STATELESS_ERA,
               "mcp-method": "tools/list", **BENCH_USER}
    cursor: str | None = None
    count = pages = 0
    while True:
        params: dict[str, Any] = {"_meta": _META, **({"cursor": cursor} if cursor else {})}
        body = {"jsonrpc": "2.0", "id": pages, "method": "tools/list", "params": params}
        async with http.post(url, data=json.dumps(body), headers=headers) as response:
            raw = await response.read()
            if response.status >= 300:
                raise CallFailed(f"HTTP {response.status}: {raw[:200]!r}")
            result = parse_reply(response.headers.get("content-type", ""), raw)["result"]
        count += len(result["tools"])
        pages += 1
        cursor = result.get("nextCursor")
        if not cursor:
            return count, pages


async def _wait_listed(url: str, expected: int, gateway: Child, wait_seconds: float = 90.0) -> float:
    """Until the server lists ``expected`` tools (the router polls the catalog every second); returns the
    duration of that first full (cold) list."""
    deadline = time.monotonic() + wait_seconds
    last: object = None
    async with new_http(4) as http:
        while time.monotonic() < deadline:
            gateway.check_alive()
            started = time.perf_counter()
            try:
                count, _ = await _list_all(http, url)
            except (CallFailed, aiohttp.ClientError, KeyError) as exc:
                last = exc
            else:
                if count == expected:
                    return time.perf_counter() - started
                last = f"{count} tools"
            await asyncio.sleep(0.25)
    raise TimeoutError(f"{url} never listed {expected} tools (last: {last!r})")


async def _warm_list(url: str, requests: int, warmup: int) -> dict[str, Any]:
    async with new_http(1) as http:
        for _ in range(warmup):
            await _list_all(http, url)
        samples: list[float] = []
        tools = pages = 0
        for _ in range(requests):
            started = time.perf_counter()
            tools, pages = await _list_all(http, url)
            samples.append(time.perf_counter() - started)
    return {**_percentiles(samples), "tools": tools, "pages": pages}


async def _calls(url: str, tool: str, era: str, requests: int, warmup: int) -> dict[str, Any]:
    async with new_http(1) as http:
        client = McpClient(http, url, era, tool, {"a": 2, "b": 40}, dict(BENCH_USER))
        await client.open()
        try:
            for _ in range(warmup):
                await client.call()
            samples: list[float] = []
            for _ in range(requests):
                started = time.perf_counter()
                await client.call()
                samples.append(time.perf_counter() - started)
        finally:
            await client.close()
    return _percentiles(samples)


def _start(
    group: ProcessGroup, work: Path, adapters: int, tools: int, log_level: str, extra_env: dict[str, str]
) -> tuple[Child, str, str]:
    port = free_port()
    upstream = group.start("upstream-many", [PYTHON, "-m", "bench.virtual_servers", "--serve-upstream",
                                             "--port", str(port), "--tools", str(tools)])
    upstream_url = f"http://127.0.0.1:{port}/mcp"
    gw_port = free_port()
    gateway = group.start(
        "gateway",
        [PYTHON, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(gw_port),
         "--data-dir", str(work / "gateway-data"), "--log-level", log_level],
        {"MCPGW_ROUTER__REPLICAS": "1", "MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT": "0", **extra_env},
    )
    wait_http(upstream, upstream_url, ok=())
    gateway_url = f"http://127.0.0.1:{gw_port}"
    wait_http(gateway, f"{gateway_url}/ping")
    for index in range(adapters):
        status, body = _request("POST", f"{gateway_url}/adapters",
                                {"name": f"vs-{index:02d}", "url": upstream_url, "requiredRoles": []})
        if status != 201:
            raise RuntimeError(f"registering vs-{index:02d} failed: {status} {body[:300]!r}")
    server = {"name": SERVER, "members": [{"adapter": f"vs-{index:02d}"} for index in range(adapters)]}
    status, body = _request("POST", f"{gateway_url}/servers", server)
    if status != 201:
        raise RuntimeError(f"creating the virtual server failed: {status} {body[:300]!r}")
    return gateway, gateway_url, upstream_url


def _markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    listing = results["list"]
    lines = [
        f"Virtual server: {meta['adapters']} adapters x {meta['tools']} tools, sequential requests, "
        f"{meta['cpu']} ({meta['cores']} cores), stamp {meta['stamp']}"
        + (f", gateway env {meta['gateway_env']}" if meta.get("gateway_env") else ""),
        "",
        "| measure | n | p50 ms | p95 ms | added p50 ms |",
        "|---|---|---|---|---|",
        f"| tools/list, cold (first full list) | 1 | {results['cold_list_ms']} | | |",
        f"| tools/list, warm ({listing['tools']} tools, {listing['pages']} page(s)) | {listing['n']} | "
        f"{listing['p50_ms']} | {listing['p95_ms']} | |",
    ]
    for era, rows in results["calls"].items():
        direct = rows["direct"]["p50_ms"]
        for target, row in rows.items():
            added = "" if target == "direct" else f"{round(row['p50_ms'] - direct, 3)}"
            lines.append(f"| tools/call {era}, {target} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} | {added} |")
    return "\n".join(lines) + "\n"


async def _measure(gateway: Child, gateway_url: str, upstream_url: str, args: argparse.Namespace) -> dict[str, Any]:
    server_url = f"{gateway_url}/servers/{SERVER}/mcp"
    cold = await _wait_listed(server_url, args.adapters * args.tools, gateway)
    print(f"bench: first full list {cold * 1000:.1f} ms; measuring warm lists", file=sys.stderr)
    results: dict[str, Any] = {"cold_list_ms": round(cold * 1000, 3)}
    results["list"] = await _warm_list(server_url, args.requests, warmup=5)
    targets = {
        "direct": (upstream_url, "tool_00"),
        "/adapters/{name}/mcp": (f"{gateway_url}/adapters/vs-00/mcp", "tool_00"),
        "/servers/{name}/mcp": (server_url, "vs-00__tool_00"),
    }
    results["calls"] = {}
    for era in (SESSION_ERA, STATELESS_ERA):
        rows = {}
        for target, (url, tool) in targets.items():
            rows[target] = await _calls(url, tool, era, args.requests, warmup=20)
            print(f"bench: tools/call {era} {target}: p50 {rows[target]['p50_ms']} ms", file=sys.stderr)
        results["calls"][era] = rows
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.virtual_servers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 requests per measure")
    parser.add_argument("--adapters", type=int, default=20)
    parser.add_argument("--tools", type=int, default=25)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--log-level", default="info", help="gateway log level (info = `make run`'s default)")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gateway environment (e.g. MCPGW_ROUTER__LEAN_PATH=false for the before); repeatable",
    )
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.port, args.tools)
        return 0
    if args.quick:
        args.requests = 50
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-servers" + ("-quick" if args.quick else "")
    work = RESULTS / stamp
    group = ProcessGroup(work / "logs")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    extra_env = dict(item.split("=", 1) for item in args.gateway_env)
    meta = {"stamp": stamp, "adapters": args.adapters, "tools": args.tools, "requests": args.requests,
            "cpu": cpu, "cores": os.cpu_count(), "log_level": args.log_level, "gateway_env": extra_env}
    try:
        print(f"bench: starting the upstream and the gateway (logs in {work / 'logs'})", file=sys.stderr)
        gateway, gateway_url, upstream_url = _start(
            group, work, args.adapters, args.tools, args.log_level, extra_env
        )
        results = asyncio.run(_measure(gateway, gateway_url, upstream_url, args))
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        group.stop_all()
    table = _markdown(results, meta)
    save("bench.virtual_servers", stamp, {"meta": meta, "results": results}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
