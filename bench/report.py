"""Aggregates raw runs into medians (with min-max spread) and renders the markdown tables."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.procs import REPO

RESULTS = Path(__file__).resolve().parent / "results"
"""Where every benchmark writes ``<stamp>.json``, ``<stamp>.md`` and its ``<stamp>/`` work directory."""


def save(program: str, stamp: str, data: dict[str, Any], table: str) -> None:
    """Write a run's data and table to :data:`RESULTS`, print the table, and say where they are on stderr."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(data, indent=1))
    (RESULTS / f"{stamp}.md").write_text(table if table.endswith("\n") else table + "\n")
    print(table)
    print(f"{program}: results in {(RESULTS / stamp).relative_to(REPO)}.json / .md", file=sys.stderr)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (kind, group, era, concurrency): direct and gateway medians side by side."""
    groups: dict[tuple[str, str, str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[(row["kind"], row["group"], row["era"], row["concurrency"])][row["target"]].append(row)
    out = []
    for (kind, group, era, concurrency), by_target in groups.items():
        d, g = by_target["direct"], by_target["gateway"]
        d_rps, g_rps = _median([r["rps"] for r in d]), _median([r["rps"] for r in g])
        d_p50, g_p50 = _median([r["p50_ms"] for r in d]), _median([r["p50_ms"] for r in g])
        out.append(
            {
                "kind": kind,
                "group": group,
                "era": era,
                "concurrency": concurrency,
                "direct_rps": round(d_rps, 1),
                "direct_rps_range": [min(r["rps"] for r in d), max(r["rps"] for r in d)],
                "gateway_rps": round(g_rps, 1),
                "gateway_rps_range": [min(r["rps"] for r in g), max(r["rps"] for r in g)],
                "ratio": round(g_rps / d_rps, 3) if d_rps else None,
                "direct_p50_ms": round(d_p50, 3),
                "direct_p99_ms": round(_median([r["p99_ms"] for r in d]), 3),
                "gateway_p50_ms": round(g_p50, 3),
                "gateway_p99_ms": round(_median([r["p99_ms"] for r in g]), 3),
                "added_p50_ms": round(g_p50 - d_p50, 3),
                "gateway_cpu_ms_per_call": round(_median([r["cpu_ms_per_call"]["gateway"] for r in g]), 3),
                "router_cpu_ms_per_call": round(_median([r["cpu_ms_per_call"].get("router", 0.0) for r in g]), 3),
                "errors": sum(r["errors"] for r in d + g),
            }
        )
    return out


def _range(values: list[float]) -> str:
    return f"{values[0]:.0f}–{values[1]:.0f}"


def markdown(summary: list[dict[str, Any]], sessions: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        f"Load average at start/end: {meta['loadavg_start']} / {meta['loadavg_end']}; "
        f"RLIMIT_NOFILE {meta['nofile']}; gateway log level {meta['log_level']}; "
        + (f"CPUs pinned {meta['cpu_pinning']}." if meta.get("cpu_pinning") else "CPUs shared by all processes."),
        "",
        "| target | upstream | era | c | direct rps (range) | gateway rps (range) | ratio | direct p50/p99 ms "
        "| gateway p50/p99 ms | added p50 ms | gateway CPU ms/call | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        target = "/adapters/{name}/mcp" if s["kind"] == "adapter" else "/mcp (tool router)"
        cpu = f"{s['gateway_cpu_ms_per_call']:.3f}"
        if s["kind"] == "tool":
            cpu += f" (+ router {s['router_cpu_ms_per_call']:.3f})"
        direct = f"{s['direct_rps']:.0f} ({_range(s['direct_rps_range'])})"
        via = f"{s['gateway_rps']:.0f} ({_range(s['gateway_rps_range'])})"
        d_lat = f"{s['direct_p50_ms']:.2f} / {s['direct_p99_ms']:.2f}"
        g_lat = f"{s['gateway_p50_ms']:.2f} / {s['gateway_p99_ms']:.2f}"
        lines.append(
            f"| {target} | {s['group']} | {s['era']} | {s['concurrency']} | {direct} | {via} | {s['ratio']:.2f} "
            f"| {d_lat} | {g_lat} | {s['added_p50_ms']:+.2f} | {cpu} | {s['errors']} |"
        )
    lines += ["", "| sessions scenario | result |", "|---|---|"]
    for name, value in sessions.items():
        lines.append(f"| {name} | {_session_cell(value)} |")
    return "\n".join(lines) + "\n"


def _session_cell(value: dict[str, Any]) -> str:
    keys = (
        "sessions",
        "streams",
        "sessions_per_s",
        "kib_per_session",
        "kib_per_stream",
        "errors",
        "sample_errors",
        "gateway_fds_after",
        "close_failures",
        "first_error",
    )
    return ", ".join(f"{k}={value[k]}" for k in keys if k in value and value[k] is not None)
