"""The load generator: a raw async JSON-RPC client on aiohttp (far cheaper than the SDK client, so the
numbers describe the server side, not the client).

One :class:`McpClient` per worker: in the session era (2025-11-25) it holds its own ``Mcp-Session-Id``;
in the 2026-07-28 era every request is stateless and carries ``Mcp-Method``/``Mcp-Name`` and the
``_meta`` envelope. Every loop is bounded by a call count and a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

SESSION_ERA = "2025-11-25"
STATELESS_ERA = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
_META = {"io.modelcontextprotocol/protocolVersion": STATELESS_ERA, "io.modelcontextprotocol/clientCapabilities": {}}


class CallFailed(Exception):
    """A request got a non-2xx status, a JSON-RPC error or an ``isError`` tool result."""


def new_http(limit: int) -> aiohttp.ClientSession:
    """One keep-alive pool per run; cookies off (the gateway sets none, and the jar costs CPU)."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=60)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())


def parse_reply(content_type: str, raw: bytes) -> dict[str, Any]:
    """The JSON-RPC response in a JSON body or in the last ``data:`` line of a one-shot SSE body."""
    if content_type.startswith("text/event-stream"):
        data = [line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:")]
        data = [d for d in data if d]
        if not data:
            raise CallFailed("SSE reply without data")
        raw = data[-1]
    message: dict[str, Any] = json.loads(raw)
    if "error" in message:
        raise CallFailed(str(message["error"])[:200])
    return message


@dataclass
class McpClient:
    """A minimal MCP client for one tool: ``open`` (handshake), ``call``, ``close`` (DELETE)."""

    http: aiohttp.ClientSession
    url: str
    era: str
    tool: str
    arguments: dict[str, Any]
    identity: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def _headers(self, method: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": ACCEPT, **self.identity}
        if self.era == STATELESS_ERA:
            headers.update({"mcp-protocol-version": STATELESS_ERA, "mcp-method": method})
            if method == "tools/call":
                headers["mcp-name"] = self.tool
        elif self.session_id is not None:
            headers.update({"mcp-protocol-version": SESSION_ERA, "mcp-session-id": self.session_id})
        return headers

    async def _post(self, method: str, params: dict[str, Any], notify: bool = False) -> dict[str, Any] | None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            body["id"] = next(self._ids)
        async with self.http.post(self.url, data=json.dumps(body), headers=self._headers(method)) as response:
            raw = await response.read()
            if response.status >= 300:
                raise CallFailed(f"HTTP {response.status}: {raw[:200]!r}")
            if method == "initialize":
                self.session_id = response.headers.get("mcp-session-id")
            if notify:
                return None
            return parse_reply(response.headers.get("content-type", ""), raw)

    async def open(self) -> None:
        """Session era: initialize + notifications/initialized. Stateless era: nothing to do."""
        if self.era != SESSION_ERA:
            return
        params = {"protocolVersion": SESSION_ERA, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        await self._post("initialize", params)
        if self.session_id is None:
            raise CallFailed("initialize returned no Mcp-Session-Id")
        await self._post("notifications/initialized", {}, notify=True)

    async def call(self) -> None:
        params: dict[str, Any] = {"name": self.tool, "arguments": self.arguments}
        if self.era == STATELESS_ERA:
            params["_meta"] = _META
        reply = await self._post("tools/call", params)
        if reply is None or reply.get("result", {}).get("isError"):
            raise CallFailed(f"tool error: {str(reply)[:200]}")

    async def close(self) -> None:
        if self.session_id is None:
            return
        async with self.http.delete(self.url, headers=self._headers("DELETE")) as response:
            await response.read()
        self.session_id = None


@dataclass
class RunResult:
    calls: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    probe_before: dict[str, float]
    probe_after: dict[str, float]
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        cpu = {k: (self.probe_after[k] - self.probe_before[k]) for k in self.probe_before}
        return {
            "calls": self.calls,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 3),
            "p99_ms": round(self.percentile(0.99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else None,
            "cpu_ms_per_call": {k: round(1000 * v / self.calls, 4) if self.calls else None for k, v in cpu.items()},
        }


Probe = Callable[[], dict[str, float]]
Call = Callable[[], Awaitable[None]]


async def drive(calls: list[Call], n: int, warmup: int, max_seconds: float, probe: Probe) -> RunResult:
    """Run ``warmup`` then ``n`` calls spread over the workers in ``calls`` (one coroutine per worker);
    ``probe`` is sampled around the timed part only."""
    errors = 0
    first_error: str | None = None
    latencies: list[float] = []

    async def worker(call: Call, budget: itertools.count[int], limit: int, deadline: float, timed: bool) -> None:
        nonlocal errors, first_error
        while next(budget) < limit and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await call()
            except (TimeoutError, CallFailed, aiohttp.ClientError, ValueError) as exc:
                errors += timed
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            if timed:
                latencies.append((time.perf_counter() - started) * 1000)

    deadline = time.monotonic() + max_seconds
    await asyncio.gather(*(worker(c, itertools.count(), warmup // len(calls) + 1, deadline, False) for c in calls))
    errors, first_error = 0, None
    before = probe()
    started = time.perf_counter()
    budget = itertools.count()
    await asyncio.gather(*(worker(c, budget, n, deadline, True) for c in calls))
    seconds = time.perf_counter() - started
    after = probe()
    return RunResult(len(latencies), errors, seconds, latencies, before, after, first_error)


async def mcp_run(
    url: str,
    era: str,
    concurrency: int,
    n: int,
    warmup: int,
    max_seconds: float,
    probe: Probe,
    identity: dict[str, str],
    tool: str = "add",
    arguments: dict[str, Any] | None = None,
) -> RunResult:
    """tools/call throughput with ``concurrency`` clients, each with its own session (session era)."""
    async with new_http(concurrency) as http:
        clients = [
            McpClient(http, url, era, tool, arguments or {"a": 2, "b": 40}, identity) for _ in range(concurrency)
        ]
        await asyncio.gather(*(c.open() for c in clients))
        try:
            return await drive([c.call for c in clients], n, warmup, max_seconds, probe)
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def post_run(
    url: str, payload: dict[str, Any], concurrency: int, n: int, warmup: int, max_seconds: float, probe: Probe
) -> RunResult:
    """Plain JSON POST throughput (the weather tool's own endpoint, for the /mcp comparison)."""
    body = json.dumps(payload)
    async with new_http(concurrency) as http:

        async def call() -> None:
            async with http.post(url, data=body, headers={"content-type": "application/json"}) as response:
                raw = await response.read()
                if response.status != 200:
                    raise CallFailed(f"HTTP {response.status}: {raw[:200]!r}")

        return await drive([call] * concurrency, n, warmup, max_seconds, probe)
