"""``python -m bench.ab --tree before=DIR --tree after=DIR [--rounds N] [--calls N] [--upstream sse] [--pin]``:
the gateway's CPU per proxied call in two source trees, measured side by side.

A change that saves a few percent of the gateway's CPU per call is smaller than the run-to-run drift of a
shared machine. This starts one upstream (JSON replies, or one-event SSE streams with ``--upstream sse``)
and one gateway per tree (each run from its tree, on the same upstream, no tool router), and alternates
short c=1 ``tools/call`` runs between the gateways, round after round, so that drift hits every tree alike.
A tree is a checkout of the repository (``git worktree add`` or ``git archive | tar -x``); the interpreter
is this one. Prints, per tree and era, the median and range over the rounds of the gateway's CPU per call
(utime + stime from /proc) and of the p50 latency, and each tree's CPU per call over the first tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import SESSION_ERA, STATELESS_ERA, mcp_run
from bench.procs import PYTHON, REPO, Child, ProcessGroup, cpu_seconds, free_port, raise_fd_limit, wait_http
from bench.stack import BENCH_USER, _request

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Gateway:
    name: str
    child: Child
    url: str


def _start_gateway(group: ProcessGroup, name: str, tree: Path, work: Path, env: dict[str, str]) -> Gateway:
    """``python -m gateway serve`` with ``tree`` as its working directory, so ``gateway`` imports from it."""
    port = free_port()
    argv = [PYTHON, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(work / f"data-{name}"), "--log-level", "info"]
    log_path = work / f"gateway-{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv,
            env={**os.environ, "MCPGW_ROUTER__REPLICAS": "0", "MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT": "0", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tree,
            start_new_session=True,
        )
    child = Child(f"gateway-{name}", popen, log_path)
    group.children.append(child)
    url = f"http://127.0.0.1:{port}"
    wait_http(child, f"{url}/ping")
    return Gateway(name, child, url)


def _pin(gateways: list[int], others: list[int]) -> None:
    """As ``python -m bench --pin``: the gateways share a core of their own, which takes the other
    processes' scheduling out of their CPU time."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    for pid in gateways:
        os.sched_setaffinity(pid, {cpus[-1]})
    for pid in [*others, 0]:
        os.sched_setaffinity(pid, set(cpus[:-1]))


def _register(gateway: Gateway, upstream_url: str) -> None:
    body = {"name": "bench", "url": upstream_url, "requiredRoles": []}
    status, answer = _request("POST", f"{gateway.url}/adapters", body)
    if status != 201:
        raise RuntimeError(f"registering bench with {gateway.name} failed: {status} {answer[:300]!r}")


async def _rounds(gateways: list[Gateway], eras: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for round_ in range(args.rounds):
        # Each round in the other order, so neither tree always runs right after the other.
        ordered = gateways if round_ % 2 == 0 else gateways[::-1]
        for gateway in ordered:
            pid = gateway.child.pid

            def probe(pid: int = pid) -> dict[str, float]:
                return {"gateway": cpu_seconds(pid)}

            for era in eras:
                url = f"{gateway.url}/adapters/bench/mcp"
                result = await mcp_run(url, era, 1, args.calls, args.warmup, args.max_seconds, probe, BENCH_USER)
                summary = result.summary()
                row = {"tree": gateway.name, "era": era, "round": round_, **summary}
                rows.append(row)
                print(
                    f"  round {round_} {gateway.name:>8} {era}: cpu {summary['cpu_ms_per_call']['gateway']:.3f} ms/call"
                    f" p50 {summary['p50_ms']:.2f} ms rps {summary['rps']:.0f} errors {summary['errors']}"
                    f" [load {os.getloadavg()[0]:.2f}]",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def _table(rows: list[dict[str, Any]], names: list[str], eras: list[str]) -> str:
    lines = [
        "| tree | era | gateway CPU ms/call median (min–max) | p50 ms median (min–max) | rounds |",
        "|---|---|---|---|---|",
    ]
    for era in eras:
        for name in names:
            picked = [r for r in rows if r["tree"] == name and r["era"] == era and not r["errors"]]
            cpu = [r["cpu_ms_per_call"]["gateway"] for r in picked]
            p50 = [r["p50_ms"] for r in picked]
            if not cpu:
                continue
            lines.append(
                f"| {name} | {era} | {statistics.median(cpu):.3f} ({min(cpu):.3f}–{max(cpu):.3f}) "
                f"| {statistics.median(p50):.2f} ({min(p50):.2f}–{max(p50):.2f}) | {len(cpu)} |"
            )
    return "\n".join([*lines, "", *_paired(rows, names, eras)])


def _paired(rows: list[dict[str, Any]], names: list[str], eras: list[str]) -> list[str]:
    """Each tree's CPU per call over the first tree's in the same round and era: runs of one round are
    adjacent in time, so the ratio cancels most of the drift that the per-tree ranges above still hold."""
    cpu = {(r["tree"], r["era"], r["round"]): r["cpu_ms_per_call"]["gateway"] for r in rows if not r["errors"]}
    lines = []
    for name in names[1:]:
        for era in eras:
            ratios = sorted(
                cpu[name, era, round_] / cpu[names[0], era, round_]
                for (tree, era_, round_) in cpu
                if tree == name and era_ == era and cpu.get((names[0], era, round_))
            )
            if ratios:
                lines.append(
                    f"{name} / {names[0]}, {era}: CPU per call x{statistics.median(ratios):.3f} "
                    f"(rounds {min(ratios):.3f}–{max(ratios):.3f}, {len(ratios)} pairs)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=DIR", help="repeat for each tree")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=1500, help="timed calls per run (c=1)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="bound on each run")
    parser.add_argument("--eras", default=f"{SESSION_ERA},{STATELESS_ERA}")
    parser.add_argument("--upstream", choices=("json", "sse"), default="json", help="the upstream's reply mode")
    parser.add_argument(
        "--pin", action="store_true", help="gateways on the last CPU; the load generator and upstream on the others"
    )
    parser.add_argument(
        "--gateway-env", action="append", default=[], metavar="KEY=VALUE", help="extra gateway environment"
    )
    args = parser.parse_args(argv)
    trees = [(name, Path(path).resolve()) for name, path in (item.split("=", 1) for item in args.tree)]
    eras = args.eras.split(",")
    env = dict(item.split("=", 1) for item in args.gateway_env)
    raise_fd_limit()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-ab"
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        work = Path(tmp)
        group = ProcessGroup(work)
        try:
            port = free_port()
            argv = [PYTHON, "-m", "bench.upstream", "--port", str(port)]
            argv += ["--json"] if args.upstream == "json" else []
            upstream = group.start(f"upstream-{args.upstream}", argv)
            upstream_url = f"http://127.0.0.1:{port}/mcp"
            wait_http(upstream, upstream_url, ok=())
            gateways = [_start_gateway(group, name, tree, work, env) for name, tree in trees]
            for gateway in gateways:
                _register(gateway, upstream_url)
            if args.pin:
                _pin([g.child.pid for g in gateways], [upstream.pid])
            rows = asyncio.run(_rounds(gateways, eras, args))
        except KeyboardInterrupt:
            return 130
        finally:
            group.stop_all()
    table = _table(rows, [name for name, _ in trees], eras)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    meta = {"stamp": stamp, "trees": {name: str(tree) for name, tree in trees}, "argv": argv or sys.argv[1:]}
    (RESULTS / f"{stamp}.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    (RESULTS / f"{stamp}.md").write_text(table + "\n")
    print(f"bench.ab: {args.rounds} rounds of {args.calls} calls per tree and era; results in "
          f"{(RESULTS / stamp).relative_to(REPO)}.json / .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
