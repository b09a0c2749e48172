"""``python -m bench [--quick] [--only adapters,tools,sessions] [--profile]``: the whole benchmark.

``python -m bench --peers [...]`` runs ``bench.peers`` instead (the gateway next to ContextForge and fastmcp).

Starts everything on 127.0.0.1, runs the scenarios, stops every process it started (also on Ctrl-C),
writes ``bench/results/<stamp>.json`` and ``.md`` and prints the markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import sessions
from bench.matrix import Plan, adapter_matrix, progress, tool_matrix
from bench.procs import ProcessGroup, open_fds, raise_fd_limit, rss_kib
from bench.report import RESULTS, aggregate, markdown, save
from bench.stack import BENCH_USER, Stack, start_stack


def _plan(quick: bool) -> Plan:
    if quick:
        return Plan((1, 8, 64), 1, {1: 150, 8: 240, 64: 320}, warmup=30, max_seconds=10)
    return Plan((1, 8, 64), 3, {1: 1500, 8: 2000, 64: 3200}, warmup=200, max_seconds=60)


def _versions() -> dict[str, str]:
    names = ("mcp", "uvicorn", "starlette", "fastapi", "httpx", "httptools", "uvloop", "aiohttp")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cpu": model, "cores": os.cpu_count(), "mem_kib": int(mem), "kernel": platform.release()}


async def _sessions(stack: Stack, quick: bool) -> dict[str, Any]:
    idle_count, stream_count = (500, 100) if quick else (10_000, 1_000)
    gw = stack.gateway.pid
    out: dict[str, Any] = {}
    for mode, (_, direct_url) in stack.upstreams.items():
        for target, url in (("direct", direct_url), ("gateway", f"{stack.gateway_url}/adapters/bench-{mode}/mcp")):
            result = await sessions.creation_rate(url, 100 if quick else 2000, 8, BENCH_USER, 60)
            out[f"creation rate c=8, {mode} upstream, {target}"] = result
            progress(f"session creation {mode} {target}: {result['sessions_per_s']} /s errors {result['errors']}")
    result = await sessions.creation_rate(f"{stack.gateway_url}/mcp", 100 if quick else 2000, 8, BENCH_USER, 60)
    out["creation rate c=8, /mcp tool router"] = result
    progress(f"session creation /mcp: {result['sessions_per_s']} /s errors {result['errors']}")
    idle = await sessions.idle_sessions(
        f"{stack.gateway_url}/adapters/bench-json/mcp", idle_count, 32, BENCH_USER, lambda: rss_kib(gw), 300
    )
    out[f"{idle_count} idle sessions via gateway"] = idle
    progress(f"idle sessions: {idle['sessions']} held, {idle['kib_per_session']} KiB each, errors {idle['errors']}")
    streams = await sessions.open_streams(
        f"{stack.gateway_url}/adapters/bench-json/mcp",
        stream_count,
        BENCH_USER,
        lambda: rss_kib(gw),
        lambda: open_fds(gw),
        120,
    )
    out[f"{stream_count} open SSE streams via gateway"] = streams
    progress(
        f"SSE streams: {streams['streams']} open, {streams['kib_per_stream']} KiB each, errors {streams['errors']}"
    )
    return out


def _profile_start(stack: Stack, work: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on the gateway and on its tool router (needs ptrace); collapsed stacks land next to the results."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        progress("py-spy not installed: --profile skipped (pip install py-spy)")
        return []
    targets = {"gateway": stack.gateway.pid, "router": stack.router_pid()}
    recorders = []
    for name, pid in targets.items():
        if pid is None:
            progress(f"--profile: no {name} process found; not recorded")
            continue
        # Blocking mode (py-spy pauses the process for each sample): --nonblocking reads stacks while they
        # change, and about half of its samples came back cut off at the event loop's frame.
        command = [str(spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
        command += ["-o", str(work / f"{name}-profile.txt")]
        recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return recorders


def _pin(stack: Stack) -> dict[str, list[int]]:
    """Gateway and tool router on the last CPU; this process (the load generator), the upstreams and the
    weather tool on the others: the gateway then has a core of its own, as in a deployment where it runs
    in its own pod, and direct and gateway runs give the client and upstream the same CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    gateway_cpus, other_cpus = {cpus[-1]}, set(cpus[:-1])
    for pid in (stack.gateway.pid, stack.router_pid()):
        if pid is not None:
            os.sched_setaffinity(pid, gateway_cpus)
    for child in (stack.weather, *(process for process, _ in stack.upstreams.values())):
        os.sched_setaffinity(child.pid, other_cpus)
    os.sched_setaffinity(0, other_cpus)
    return {"gateway": sorted(gateway_cpus), "client_and_upstreams": sorted(other_cpus)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--peers" in argv:
        from bench import peers

        return peers.main([arg for arg in argv if arg != "--peers"])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run (< 1 min): fewer calls, one repetition")
    parser.add_argument("--only", default="adapters,tools,sessions", help="comma-separated scenarios")
    parser.add_argument("--log-level", default="info", help="gateway log level (info = `make run`'s default)")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=2048,
        help="MCPGW_PROXY__MAX_CONNECTIONS (the default 512 caps open SSE streams)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="record the gateway and the tool router with py-spy (collapsed stacks)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="gateway and router on their own CPU, client and upstreams on the rest"
    )
    parser.add_argument("--concurrency", help="override, e.g. 1,64")
    parser.add_argument("--reps", type=int, help="override the repetitions")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gateway environment (e.g. MCPGW_STORE__KIND=memory); repeatable",
    )
    parser.add_argument("--upstreams", default="json,sse", help="reply modes to run the adapter matrix on")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    nofile = raise_fd_limit()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    work = RESULTS / stamp
    group = ProcessGroup(work / "logs")
    # SIGTERM becomes KeyboardInterrupt so that the same `finally` cleans up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    meta: dict[str, Any] = {
        "stamp": stamp,
        "quick": args.quick,
        "machine": _machine(),
        "versions": _versions(),
        "nofile": list(nofile),
        "log_level": args.log_level,
        "gateway_env": args.gateway_env,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    recorders: list[subprocess.Popen[bytes]] = []
    try:
        print(f"bench: starting upstreams, weather tool and gateway (logs in {work / 'logs'})", file=sys.stderr)
        extra_env = dict(item.split("=", 1) for item in args.gateway_env)
        stack = start_stack(group, work, args.log_level, args.max_connections, extra_env)
        if args.pin:
            meta["cpu_pinning"] = _pin(stack)
        if args.profile:
            recorders = _profile_start(stack, work)
        plan = _plan(args.quick)
        if args.concurrency:
            plan.concurrencies = tuple(int(c) for c in args.concurrency.split(","))
        if args.reps:
            plan.repetitions = args.reps
        plan.upstreams = tuple(args.upstreams.split(","))
        rows: list[dict[str, Any]] = []
        session_results: dict[str, Any] = {}
        if "adapters" in only:
            rows += asyncio.run(adapter_matrix(stack, plan))
        if "tools" in only:
            rows += asyncio.run(tool_matrix(stack, plan))
        if "sessions" in only:
            session_results = asyncio.run(_sessions(stack, args.quick))
        meta["gateway_rss_end_kib"] = rss_kib(stack.gateway.pid)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        group.stop_all()
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = aggregate(rows)
    table = markdown(summary, session_results, meta)
    save("bench", stamp, {"meta": meta, "summary": summary, "sessions": session_results, "runs": rows}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
