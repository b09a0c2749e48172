"""Session scenarios: handshake rate, many idle sessions (gateway RSS per session) and open SSE streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.load import ACCEPT, SESSION_ERA, McpClient, new_http


@dataclass
class SessionBatch:
    clients: list[McpClient]
    errors: int
    seconds: float
    first_error: str | None

    @property
    def rate(self) -> float:
        return len(self.clients) / self.seconds if self.seconds else 0.0


async def open_sessions(
    http: aiohttp.ClientSession,
    url: str,
    count: int,
    concurrency: int,
    identity: dict[str, str],
    max_seconds: float,
) -> SessionBatch:
    """``count`` initialize handshakes (+ notifications/initialized) by ``concurrency`` workers."""
    opened: list[McpClient] = []
    errors = 0
    first_error: str | None = None
    deadline = time.monotonic() + max_seconds
    remaining = iter(range(count))

    async def worker() -> None:
        nonlocal errors, first_error
        for _ in remaining:
            if time.monotonic() > deadline:
                return
            client = McpClient(http, url, SESSION_ERA, "add", {"a": 1, "b": 2}, identity)
            try:
                await client.open()
                opened.append(client)
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return SessionBatch(opened, errors, time.perf_counter() - started, first_error)


async def close_sessions(clients: list[McpClient], concurrency: int, max_seconds: float) -> int:
    """DELETE every session; returns how many failed."""
    failures = 0
    deadline = time.monotonic() + max_seconds
    pending = iter(clients)

    async def worker() -> None:
        nonlocal failures
        for client in pending:
            if time.monotonic() > deadline:
                failures += 1
                continue
            try:
                await client.close()
            except Exception:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def creation_rate(
    url: str, count: int, concurrency: int, identity: dict[str, str], max_seconds: float
) -> dict[str, Any]:
    """Handshakes per second (each = initialize + initialized notification); the sessions are then closed."""
    async with new_http(concurrency) as http:
        batch = await open_sessions(http, url, count, concurrency, identity, max_seconds)
        close_failures = await close_sessions(batch.clients, concurrency, max_seconds)
    return {
        "sessions": len(batch.clients),
        "errors": batch.errors,
        "first_error": batch.first_error,
        "seconds": round(batch.seconds, 3),
        "sessions_per_s": round(batch.rate, 1),
        "close_failures": close_failures,
    }


async def idle_sessions(
    url: str,
    count: int,
    concurrency: int,
    identity: dict[str, str],
    rss_kib: Callable[[], int],
    max_seconds: float,
    warm: int = 200,
) -> dict[str, Any]:
    """Hold ``count`` idle sessions on the gateway; RSS growth per session after a warm-up batch.

    The warm-up batch is kept open too, so allocator pools and caches are already grown when the
    baseline is taken. A sample of the sessions is used afterwards to prove they still route.
    """
    async with new_http(concurrency) as http:
        warm_batch = await open_sessions(http, url, warm, concurrency, identity, max_seconds)
        await asyncio.sleep(0.5)
        before = rss_kib()
        batch = await open_sessions(http, url, count, concurrency, identity, max_seconds)
        await asyncio.sleep(0.5)
        after = rss_kib()
        sample = batch.clients[:: max(1, len(batch.clients) // 100)]
        sample_errors = 0
        for client in sample:
            try:
                await client.call()
            except Exception:
                sample_errors += 1
        close_failures = await close_sessions(warm_batch.clients + batch.clients, concurrency, max_seconds)
    held = len(batch.clients)
    return {
        "sessions": held,
        "errors": batch.errors,
        "first_error": batch.first_error,
        "sessions_per_s": round(batch.rate, 1),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_session": round((after - before) / held, 2) if held else None,
        "sample_calls": len(sample),
        "sample_errors": sample_errors,
        "close_failures": close_failures,
    }


async def open_streams(
    url: str,
    count: int,
    identity: dict[str, str],
    rss_kib: Callable[[], int],
    fds: Callable[[], int],
    max_seconds: float,
) -> dict[str, Any]:
    """``count`` sessions each with a standalone GET SSE stream held open; RSS and fds per stream."""
    async with new_http(count + 8) as http:
        batch = await open_sessions(http, url, count, 32, identity, max_seconds)
        await asyncio.sleep(0.5)
        before, fds_before = rss_kib(), fds()
        streams: list[aiohttp.ClientResponse] = []
        errors = 0
        first_error: str | None = None

        async def open_one(client: McpClient) -> None:
            nonlocal errors, first_error
            headers = {"accept": ACCEPT, "mcp-session-id": client.session_id or "", **identity}
            headers["mcp-protocol-version"] = SESSION_ERA
            try:
                response = await http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None, connect=30))
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                streams.append(response)
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"

        started = time.perf_counter()
        await asyncio.gather(*(open_one(c) for c in batch.clients))
        seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        after, fds_after = rss_kib(), fds()
        for response in streams:
            response.close()
        close_failures = await close_sessions(batch.clients, 32, max_seconds)
    held = len(streams)
    return {
        "streams": held,
        "errors": errors + batch.errors,
        "first_error": first_error or batch.first_error,
        "open_seconds": round(seconds, 3),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_stream": round((after - before) / held, 2) if held else None,
        "gateway_fds_before": fds_before,
        "gateway_fds_after": fds_after,
        "close_failures": close_failures,
    }
