"""Throughput scenarios, run interleaved (direct, gateway, direct, gateway, ...) so drift hits both sides."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from bench.load import SESSION_ERA, STATELESS_ERA, mcp_run, post_run
from bench.stack import BENCH_USER, Stack

ERAS = (SESSION_ERA, STATELESS_ERA)


@dataclass
class Plan:
    concurrencies: tuple[int, ...]
    repetitions: int
    calls: dict[int, int]
    """Timed calls per run, by concurrency."""
    warmup: int
    max_seconds: float
    upstreams: tuple[str, ...] = ("json", "sse")


def progress(message: str) -> None:
    load = os.getloadavg()[0]
    print(f"  [load {load:4.2f}] {message}", file=sys.stderr, flush=True)


def _row(
    kind: str, group: str, era: str, concurrency: int, target: str, rep: int, result: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "group": group,
        "era": era,
        "concurrency": concurrency,
        "target": target,
        "rep": rep,
        "loadavg": round(os.getloadavg()[0], 2),
        **result,
    }


async def adapter_matrix(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """tools/call on the bench upstreams: direct versus ``/adapters/bench-{mode}/mcp``."""
    rows: list[dict[str, Any]] = []
    for mode in plan.upstreams:
        direct_url = stack.upstreams[mode][1]
        gateway_url = f"{stack.gateway_url}/adapters/bench-{mode}/mcp"
        probe = stack.probe_for(mode)
        for era in ERAS:
            for concurrency in plan.concurrencies:
                n = plan.calls[concurrency]
                for rep in range(plan.repetitions):
                    for target, url in (("direct", direct_url), ("gateway", gateway_url)):
                        result = await mcp_run(
                            url, era, concurrency, n, plan.warmup, plan.max_seconds, probe, BENCH_USER
                        )
                        summary = result.summary()
                        rows.append(_row("adapter", mode, era, concurrency, target, rep, summary))
                        progress(
                            f"{mode:4} {era} c={concurrency:<2} {target:7} rep {rep}: {summary['rps']:7.1f} rps "
                            f"p50 {summary['p50_ms']:.2f} ms errors {summary['errors']}"
                        )
    return rows


async def tool_matrix(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """The weather tool: its own ``POST /score`` versus ``tools/call`` through ``/mcp`` (the tool router)."""
    rows: list[dict[str, Any]] = []
    probe = stack.probe_for("weather", "router")
    payload = {"location": "Seattle"}
    for era in ERAS:
        for concurrency in plan.concurrencies:
            n = plan.calls[concurrency]
            for rep in range(plan.repetitions):
                direct = await post_run(
                    stack.weather_url, payload, concurrency, n, plan.warmup, plan.max_seconds, probe
                )
                via = await mcp_run(
                    f"{stack.gateway_url}/mcp",
                    era,
                    concurrency,
                    n,
                    plan.warmup,
                    plan.max_seconds,
                    probe,
                    BENCH_USER,
                    tool="weather",
                    arguments=payload,
                )
                for target, result in (("direct", direct), ("gateway", via)):
                    summary = result.summary()
                    rows.append(_row("tool", "weather", era, concurrency, target, rep, summary))
                    progress(
                        f"tool {era} c={concurrency:<2} {target:7} rep {rep}: {summary['rps']:7.1f} rps "
                        f"p50 {summary['p50_ms']:.2f} ms errors {summary['errors']}"
                    )
    return rows


def run(coro: Any) -> Any:
    return asyncio.run(coro)
