"""``python -m bench.peers [--quick] [--only contextforge,fastmcp]``: the gateway next to its peers, on the same
upstream, with the same load generator (also ``python -m bench --peers`` and ``make bench-peers``).

Installs each peer into its own virtual environment under ``.cache/bench-peers/<name>`` (pinned version, pip
with a timeout; kept between runs, ``--reinstall`` to redo), starts the gateway stack of ``bench.stack``
and the peers on 127.0.0.1, registers the same upstream (``bench.upstream``, JSON replies) with each, and
drives ``tools/call add`` through every target, interleaved (every target in turn, per repetition):

* ``direct``: the upstream itself;
* ``gateway``: ``/adapters/bench-json/mcp``;
* ``/mcp``: the tool router, aggregating adapters (tool ``bench-json__add``);
* ``/servers/{name}/mcp``: a virtual server of the gateway over the adapter (what ContextForge is measured as);
* ``contextforge``: IBM ContextForge, a gateway (``POST /gateways``) and a virtual server (``POST /servers``)
  over the upstream, ``/servers/{id}/mcp``, with a JWT it minted; its rate limiter off;
* ``fastmcp default`` / ``fastmcp shared``: ``bench/peers/fastmcp_proxy.py`` (``create_proxy`` over the URL:
  a new upstream session per request; over a connected client: one shared upstream session).

CPU per call is the utime+stime of the target's own processes over the timed part (for a peer: its whole
process group), and of the upstream. Every process is stopped on exit, also on Ctrl-C. Results land in
``bench/results/<stamp>-peers.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.__main__ import _machine, _versions
from bench.load import SESSION_ERA, STATELESS_ERA, CallFailed, McpClient, RunResult, drive, new_http
from bench.matrix import Plan, progress
from bench.procs import PYTHON, REPO, Child, ProcessGroup, cpu_seconds, free_port, raise_fd_limit, wait_http
from bench.report import RESULTS, save
from bench.stack import BENCH_USER, Stack, _request, start_stack

CACHE = REPO / ".cache" / "bench-peers"
SCRIPTS = Path(__file__).resolve().parent / "peers"
ERAS = (SESSION_ERA, STATELESS_ERA)
ARGUMENTS = {"a": 2, "b": 40}
VIRTUAL_SERVER = "bench-peers-vs"
CONTEXTFORGE_ADMIN = "admin@example.com"


@dataclass(frozen=True)
class PeerSpec:
    """A peer's pinned requirement and the distributions whose versions the results record."""

    name: str
    requirement: str
    versions_of: tuple[str, ...]


PEERS = {
    "fastmcp": PeerSpec("fastmcp", "fastmcp==4.2.3", ("fastmcp", "mcp", "uvicorn", "starlette", "httpx", "httpx2")),
    "contextforge": PeerSpec(
        "contextforge",
        "mcp-contextforge-gateway==1.0.7",
        ("mcp-contextforge-gateway", "mcp", "uvicorn", "starlette", "fastapi", "sqlalchemy", "httpx", "orjson"),
    ),
}


def contextforge_env(data_dir: Path, port: int, stateful: bool, secret: str) -> dict[str, str]:
    """ContextForge's settings for the bench: its documented secrets generated per run, SQLite under
    ``data_dir``, auth on (a JWT), the rate limiter, plugins, admin UI/API and observability off, loopback
    upstreams allowed (its SSRF guard blocks localhost by default), JSON replies (its default)."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{data_dir / 'contextforge.db'}",
        "JWT_SECRET_KEY": secret,
        "AUTH_ENCRYPTION_SECRET": secrets.token_hex(32),
        "BASIC_AUTH_PASSWORD": "Bench-" + secrets.token_hex(12) + "!",
        "PLATFORM_ADMIN_EMAIL": CONTEXTFORGE_ADMIN,
        "PLATFORM_ADMIN_PASSWORD": "Bench-" + secrets.token_hex(12) + "!",
        "AUTH_REQUIRED": "true",
        "RATE_LIMITING_ENABLED": "false",
        "PLUGINS_ENABLED": "false",
        "SSRF_ALLOW_LOCALHOST": "true",
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "false",
        "OBSERVABILITY_ENABLED": "false",
        "USE_STATEFUL_SESSIONS": "true" if stateful else "false",
        "JSON_RESPONSE_ENABLED": "true",
        "LOG_LEVEL": "ERROR",
        "CACHE_TYPE": "database",
    }


# Shown in the results next to each peer (the secrets are not).
CONTEXTFORGE_SHOWN = (
    "AUTH_REQUIRED",
    "RATE_LIMITING_ENABLED",
    "PLUGINS_ENABLED",
    "SSRF_ALLOW_LOCALHOST",
    "MCPGATEWAY_UI_ENABLED",
    "MCPGATEWAY_ADMIN_API_ENABLED",
    "OBSERVABILITY_ENABLED",
    "USE_STATEFUL_SESSIONS",
    "JSON_RESPONSE_ENABLED",
    "LOG_LEVEL",
    "CACHE_TYPE",
)


# --------------------------------------------------------------------------------------------- installs


def venv_dir(name: str) -> Path:
    return CACHE / name


def install(spec: PeerSpec, timeout: float, reinstall: bool) -> dict[str, Any]:
    """Create ``.cache/bench-peers/<name>`` and pip-install the pinned requirement (bounded by ``timeout``);
    a venv whose marker names the same requirement is reused. Never raises: a failure is in ``error``."""
    venv = venv_dir(spec.name)
    marker = venv / "bench-install.json"
    if marker.exists() and not reinstall:
        record: dict[str, Any] = json.loads(marker.read_text())
        if record.get("requirement") == spec.requirement:
            return {**record, "cached": True, "versions": peer_versions(spec)}
    if venv.exists():
        shutil.rmtree(venv)
    started = time.monotonic()
    try:
        subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        subprocess.run([*pip, spec.requirement], check=True, timeout=timeout, capture_output=True)
    except subprocess.TimeoutExpired:
        return {"requirement": spec.requirement, "error": f"pip install did not finish within {timeout:.0f}s"}
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace")[-1500:]
        return {"requirement": spec.requirement, "error": f"exit {exc.returncode}: {tail}"}
    record = {
        "requirement": spec.requirement,
        "seconds": round(time.monotonic() - started, 1),
        "python": _venv_python_version(venv),
        "installed_at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    marker.write_text(json.dumps(record))
    return {**record, "cached": False, "versions": peer_versions(spec)}


def _venv_python_version(venv: Path) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


def peer_versions(spec: PeerSpec) -> dict[str, str]:
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        out[name] = 'absent'\n"
        "print(json.dumps(out))"
    )
    python = venv_dir(spec.name) / "bin" / "python"
    out = subprocess.run([str(python), "-c", code, *spec.versions_of], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}


# ---------------------------------------------------------------------------------------------- targets


def group_pids(pgid: int) -> list[int]:
    """Every live process of process group ``pgid`` (a peer and anything it forked)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
            total += cpu_seconds(pid)
    return total


@dataclass
class Target:
    name: str
    url: str
    tool: str
    eras: tuple[str, ...]
    identity: dict[str, str]
    pids: Callable[[], list[int]]
    """The processes whose CPU is the target's (empty for direct: the upstream is counted apart)."""
    settings: str = ""
    skipped: dict[str, str] = field(default_factory=dict)
    """Era -> why it is not measured."""
    child: Child | None = None
    """The peer's process, checked while waiting for it."""


def probe_for(target: Target, upstream_pid: int) -> Callable[[], dict[str, float]]:
    pids = target.pids()

    def probe() -> dict[str, float]:
        return {"target": _cpu(pids), "upstream": _cpu([upstream_pid])}

    return probe


@dataclass
class PeerClient(McpClient):
    """The harness's client, accepting a session-era server that answers ``initialize`` without a session id
    (ContextForge's stateless mode): every later request is then a fresh session on the server's side."""

    async def open(self) -> None:
        if self.era != SESSION_ERA:
            return
        params = {"protocolVersion": SESSION_ERA, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        await self._post("initialize", params)
        await self._post("notifications/initialized", {}, notify=True)

    def _headers(self, method: str) -> dict[str, str]:
        headers = super()._headers(method)
        if self.era == SESSION_ERA and self.session_id is None and method != "initialize":
            headers["mcp-protocol-version"] = SESSION_ERA
        return headers


async def run_target(
    target: Target, era: str, concurrency: int, n: int, warmup: int, max_seconds: float, probe: Any
) -> RunResult:
    async with new_http(concurrency) as http:
        clients = [
            PeerClient(http, target.url, era, target.tool, dict(ARGUMENTS), target.identity) for _ in range(concurrency)
        ]
        await asyncio.gather(*(client.open() for client in clients))
        calls = [client.call for client in clients]
        try:
            # The warm-up on its own clock (a quarter of the run's), so that a slow peer's warm-up does not eat
            # the timed part; the timed run then starts with one more untimed call per client.
            await drive(calls, 0, warmup, max_seconds / 4, probe)
            return await drive(calls, n, 0, max_seconds, probe)
        finally:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def wait_ready(target: Target, gateway: Child, wait_seconds: float = 90.0) -> None:
    """Until one ``tools/call`` through ``target`` succeeds in each era it serves (the tool router and
    ContextForge learn tools asynchronously)."""
    deadline = time.monotonic() + wait_seconds
    last: object = None
    async with new_http(2) as http:
        for era in target.eras:
            while True:
                (target.child or gateway).check_alive()
                client = PeerClient(http, target.url, era, target.tool, dict(ARGUMENTS), target.identity)
                try:
                    await client.open()
                    await client.call()
                    await client.close()
                    break
                except (CallFailed, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    last = exc
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{target.name} never answered tools/call in {era}: {last!r}")
                await asyncio.sleep(0.25)


# --------------------------------------------------------------------------------------------- starting


def gateway_targets(stack: Stack) -> list[Target]:
    upstream_child, upstream_url = stack.upstreams["json"]
    status, body = _request(
        "POST", f"{stack.gateway_url}/servers", {"name": VIRTUAL_SERVER, "members": [{"adapter": "bench-json"}]}
    )
    if status != 201:
        raise RuntimeError(f"creating the virtual server failed: {status} {body[:300]!r}")
    gw = stack.gateway.pid

    def with_router() -> list[int]:
        router = stack.router_pid()
        return [gw] if router is None else [gw, router]

    dev = "dev-mode identity header (x-dev-userid), SQLite store, sealed session ids, access log on (info)"
    return [
        Target("direct", upstream_url, "add", ERAS, {}, list, "mcp 2.3.0 MCPServer, json_response=True"),
        Target("gateway", f"{stack.gateway_url}/adapters/bench-json/mcp", "add", ERAS, BENCH_USER, lambda: [gw], dev),
        Target("/mcp", f"{stack.gateway_url}/mcp", "bench-json__add", ERAS, BENCH_USER, with_router, dev),
        Target(
            "/servers/{name}/mcp",
            f"{stack.gateway_url}/servers/{VIRTUAL_SERVER}/mcp",
            "bench-json__add",
            ERAS,
            BENCH_USER,
            with_router,
            dev,
        ),
    ]


def start_fastmcp(group: ProcessGroup, upstream_url: str) -> list[Target]:
    python = str(venv_dir("fastmcp") / "bin" / "python")
    targets = []
    for variant, extra in (("default", []), ("shared", ["--shared"])):
        port = free_port()
        argv = [python, str(SCRIPTS / "fastmcp_proxy.py"), "--upstream", upstream_url, "--port", str(port), *extra]
        child = group.start(f"fastmcp-{variant}", argv)
        settings = (
            "create_proxy(URL): a new upstream client and session per request"
            if variant == "default"
            else "create_proxy(connected Client(URL)): one upstream session shared by every request"
        )
        settings += "; fastmcp defaults: stateful front sessions, SSE replies, uvicorn access log on, no auth"
        targets.append(
            Target(f"fastmcp {variant}", f"http://127.0.0.1:{port}/mcp", "add", ERAS, {}, _group(child), settings,
                   child=child)
        )
        wait_http(child, f"http://127.0.0.1:{port}/mcp", timeout=60, ok=())
    return targets


def _group(child: Child) -> Callable[[], list[int]]:
    return lambda: group_pids(child.pid)


@dataclass
class ContextForge:
    child: Child
    url: str
    env: dict[str, str]
    stateful: bool


def start_contextforge(group: ProcessGroup, stateful: bool) -> ContextForge:
    """``mcpgateway`` (its CLI: one uvicorn process) on 127.0.0.1, SQLite in a fresh data dir under .cache.
    Run from its data dir (``env -C``) so that no ``.env`` of the working tree is read."""
    mode = "stateful" if stateful else "stateless"
    data_dir = CACHE / "run" / f"contextforge-{mode}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    port = free_port()
    env = contextforge_env(data_dir, port, stateful, secrets.token_hex(32))
    binary = str(venv_dir("contextforge") / "bin" / "mcpgateway")
    argv = ["env", "-C", str(data_dir), binary, "--host", "127.0.0.1", "--port", str(port)]
    child = group.start(f"contextforge-{mode}", argv, env)
    return ContextForge(child, f"http://127.0.0.1:{port}", env, stateful)


def _cf_request(cf: ContextForge, token: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        cf.url + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def contextforge_token(cf: ContextForge) -> str:
    """A JWT from ContextForge's own documented minting tool, for its bootstrap admin, valid for 3 hours."""
    python = str(venv_dir("contextforge") / "bin" / "python")
    argv = ["env", "-C", str(Path(cf.env["DATABASE_URL"].removeprefix("sqlite:///")).parent), python, "-m"]
    argv += ["mcpgateway.utils.create_jwt_token", "--username", CONTEXTFORGE_ADMIN, "--exp", "180"]
    argv += ["--secret", cf.env["JWT_SECRET_KEY"]]
    out = subprocess.run(argv, env={**os.environ, **cf.env}, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip().splitlines()[-1]


def register_contextforge(cf: ContextForge, upstream_url: str) -> Target:
    wait_http(cf.child, f"{cf.url}/health", timeout=180)
    token = contextforge_token(cf)
    gateway = _cf_request(
        cf, token, "POST", "/gateways", {"name": "bench", "url": upstream_url, "transport": "STREAMABLEHTTP"}
    )
    tools = [tool for tool in _cf_request(cf, token, "GET", "/tools") if tool.get("gatewayId") == gateway["id"]]
    if not tools:
        raise RuntimeError("ContextForge registered the gateway but lists none of its tools")
    server = _cf_request(
        cf,
        token,
        "POST",
        "/servers",
        {"server": {"name": "bench-vs", "associated_tools": [t["id"] for t in tools]}, "visibility": "public"},
    )
    mode = "stateful" if cf.stateful else "stateless"
    shown = ", ".join(f"{key}={cf.env[key]}" for key in CONTEXTFORGE_SHOWN)
    settings = (
        f"`mcpgateway --host 127.0.0.1` (one uvicorn process), SQLite, Bearer JWT (HS256) of its bootstrap "
        f"admin, gateway + virtual server, /servers/{{id}}/mcp; {shown}"
    )
    tool = next(t["name"] for t in tools if t.get("originalName") == "add")
    return Target(
        f"contextforge {mode}",
        f"{cf.url}/servers/{server['id']}/mcp",
        tool,
        (SESSION_ERA,),
        {"authorization": f"Bearer {token}"},
        _group(cf.child),
        settings,
        {STATELESS_ERA: "ContextForge 1.0.7 answers 400 Unsupported protocol version: 2026-07-28"},
        cf.child,
    )


# ----------------------------------------------------------------------------------------- measuring


def plan_for(quick: bool) -> Plan:
    """The slow peers (a new upstream session per request) run into ``max_seconds``, the others into their
    call counts; the warm-up has a quarter of ``max_seconds`` besides. The smoke run leaves out c=64, where
    the first call of each of 64 clients to a slow peer alone outlasts its deadline."""
    if quick:
        return Plan((1, 8), 1, {1: 60, 8: 120}, warmup=16, max_seconds=5)
    return Plan((1, 8, 64), 3, {1: 1000, 8: 1500, 64: 2400}, warmup=64, max_seconds=15)


async def measure(targets: list[Target], plan: Plan, upstream_pid: int) -> list[dict[str, Any]]:
    """Every (era, concurrency, repetition): each target in turn, so that drift hits all of them alike."""
    rows: list[dict[str, Any]] = []
    probes = {target.name: probe_for(target, upstream_pid) for target in targets}
    for era in ERAS:
        for concurrency in plan.concurrencies:
            n = plan.calls[concurrency]
            for rep in range(plan.repetitions):
                for target in targets:
                    if era not in target.eras:
                        continue
                    try:
                        result = await run_target(
                            target, era, concurrency, n, plan.warmup, plan.max_seconds, probes[target.name]
                        )
                        summary = result.summary()
                    except (CallFailed, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                        summary = {"calls": 0, "errors": 1, "first_error": f"{type(exc).__name__}: {exc}"[:300]}
                    rows.append(
                        {
                            "target": target.name,
                            "era": era,
                            "concurrency": concurrency,
                            "rep": rep,
                            "loadavg": round(os.getloadavg()[0], 2),
                            **summary,
                        }
                    )
                    progress(
                        f"{era} c={concurrency:<2} rep {rep} {target.name:22} {summary.get('rps', 0):7.1f} rps "
                        f"p50 {summary.get('p50_ms', float('nan')):.2f} ms errors {summary['errors']}"
                    )
    return rows


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def aggregate(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """One line per (era, concurrency, target): medians over repetitions, the rps range, and the ratio of the
    target's median rps to the direct median rps of the same era and concurrency."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["era"], row["concurrency"], row["target"])].append(row)
    out = []
    rank = {name: index for index, name in enumerate(order)}
    for (era, concurrency, target), runs in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], rank.get(item[0][2], len(rank)))
    ):
        done = [r for r in runs if r.get("calls")]
        rps = [r["rps"] for r in done]
        direct = [r["rps"] for r in groups.get((era, concurrency, "direct"), []) if r.get("calls")]
        median_rps = _median(rps)
        direct_rps = _median(direct)
        first_errors = [r["first_error"] for r in runs if r.get("first_error")]
        out.append(
            {
                "target": target,
                "era": era,
                "concurrency": concurrency,
                "runs": len(runs),
                "rps": median_rps,
                "rps_range": [min(rps), max(rps)] if rps else None,
                "ratio": round(median_rps / direct_rps, 3) if median_rps is not None and direct_rps else None,
                "p50_ms": _median([r["p50_ms"] for r in done]),
                "p99_ms": _median([r["p99_ms"] for r in done]),
                "target_cpu_ms_per_call": _median([r["cpu_ms_per_call"]["target"] for r in done]),
                "upstream_cpu_ms_per_call": _median([r["cpu_ms_per_call"]["upstream"] for r in done]),
                "errors": sum(r["errors"] for r in runs),
                "first_error": first_errors[0] if first_errors else None,
                "runs_without_timed_calls": sum(1 for r in runs if not r.get("calls") and not r["errors"]),
            }
        )
    return out


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['stamp']}: load average at start/end {meta['loadavg_start']} / {meta['loadavg_end']}; "
        f"{meta['machine']['cores']} CPUs shared by every process. Medians of {meta['plan']['repetitions']} "
        f"interleaved repetition(s); `tools/call add` on one upstream (`bench.upstream --json`); every run "
        f"bounded by {meta['plan']['max_seconds']} s after a warm-up of at most a quarter of that.",
        "",
        "| target | era | c | rps (range) | × direct | p50 / p99 ms | target CPU ms/call | upstream CPU ms/call "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        rps = "–" if s["rps"] is None else f"{s['rps']:.0f} ({s['rps_range'][0]:.0f}–{s['rps_range'][1]:.0f})"
        cpu = "–" if s["target"] == "direct" else _num(s["target_cpu_ms_per_call"], 3)
        errors = str(s["errors"])
        if s.get("runs_without_timed_calls"):
            errors += f" ({s['runs_without_timed_calls']}/{s['runs']} runs: no call within the deadline)"
        lines.append(
            f"| {s['target']} | {s['era']} | {s['concurrency']} | {rps} | {_num(s['ratio'])} "
            f"| {_num(s['p50_ms'])} / {_num(s['p99_ms'])} | {cpu} | {_num(s['upstream_cpu_ms_per_call'], 3)} "
            f"| {errors} |"
        )
    lines += ["", "| target | version | install | settings |", "|---|---|---|---|"]
    for name, info in meta["targets"].items():
        lines.append(f"| {name} | {info.get('version', '')} | {info.get('install', '')} | {info.get('settings', '')} |")
    notes = [f"- {name}: not measured in {era}: {why}" for name, info in meta["targets"].items()
             for era, why in info.get("skipped", {}).items()]
    notes += [f"- {name}: {error}" for name, error in meta.get("failed", {}).items()]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _install_cell(record: dict[str, Any]) -> str:
    if record.get("error"):
        return "failed"
    how = "cached; " if record.get("cached") else ""
    return f"{how}pip install {record['seconds']:.0f} s (Python {record.get('python', '?')})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 2 min after the installs)")
    parser.add_argument("--only", default="contextforge,fastmcp", help="the peers to run: contextforge,fastmcp")
    parser.add_argument(
        "--contextforge-modes", default="stateless,stateful", help="USE_STATEFUL_SESSIONS variants to run"
    )
    parser.add_argument("--install-timeout", type=float, default=900, help="seconds for one peer's pip install")
    parser.add_argument("--reinstall", action="store_true", help="recreate the peers' environments")
    parser.add_argument("--concurrency", help="override, e.g. 1,64")
    parser.add_argument("--reps", type=int, help="override the repetitions")
    parser.add_argument("--log-level", default="info", help="gateway log level (info = `make run`'s default)")
    args = parser.parse_args(argv)
    wanted = [name for name in args.only.split(",") if name]
    unknown = set(wanted) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    nofile = raise_fd_limit()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-peers" + ("-quick" if args.quick else "")
    work = RESULTS / stamp
    plan = plan_for(args.quick)
    if args.concurrency:
        plan.concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    if args.reps:
        plan.repetitions = args.reps
    meta: dict[str, Any] = {
        "stamp": stamp,
        "quick": args.quick,
        "machine": _machine(),
        "versions": _versions(),
        "nofile": list(nofile),
        "plan": {"concurrencies": plan.concurrencies, "repetitions": plan.repetitions, "calls": plan.calls,
                 "warmup": plan.warmup, "max_seconds": plan.max_seconds},
        "installs": {},
        "targets": {},
        "failed": {},
    }
    for name in wanted:
        progress(f"installing {PEERS[name].requirement} into {venv_dir(name).relative_to(REPO)}")
        record = install(PEERS[name], args.install_timeout, args.reinstall)
        meta["installs"][name] = record
        if record.get("error"):
            meta["failed"][name] = f"install failed: {record['error']}"
            progress(f"{name}: install failed: {record['error'][:300]}")
        else:
            progress(f"{name}: {_install_cell(record)}, versions {record['versions']}")
    group = ProcessGroup(work / "logs")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    meta["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    rows: list[dict[str, Any]] = []
    targets: list[Target] = []
    try:
        progress(f"starting the gateway stack and the peers (logs in {(work / 'logs').relative_to(REPO)})")
        stack = start_stack(group, work, args.log_level, 2048)
        upstream_child, upstream_url = stack.upstreams["json"]
        targets = gateway_targets(stack)
        forges = []
        if "contextforge" in wanted and "contextforge" not in meta["failed"]:
            # Started first and together: each spends ~20 s on its database migrations.
            modes = [mode for mode in args.contextforge_modes.split(",") if mode]
            forges = [start_contextforge(group, mode == "stateful") for mode in modes]
        if "fastmcp" in wanted and "fastmcp" not in meta["failed"]:
            targets += start_fastmcp(group, upstream_url)
        for cf in forges:
            name = f"contextforge {'stateful' if cf.stateful else 'stateless'}"
            try:
                targets.append(register_contextforge(cf, upstream_url))
            except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
                meta["failed"][name] = f"{type(exc).__name__}: {str(exc)[:1500]}"
                progress(f"{name}: could not be set up: {exc}")
                group.stop(cf.child)
        for target in targets:
            asyncio.run(wait_ready(target, stack.gateway))
        for target in targets:
            peer = target.name.split()[0]
            record = meta["installs"].get(peer, {})
            versions = record.get("versions", {})
            meta["targets"][target.name] = {
                "url": target.url.replace(stack.gateway_url, "{gateway}"),
                "tool": target.tool,
                "version": versions.get(PEERS[peer].versions_of[0], "") if peer in PEERS else "this repository",
                "install": _install_cell(record) if record else "",
                "settings": target.settings,
                "skipped": target.skipped,
            }
        rows = asyncio.run(measure(targets, plan, upstream_child.pid))
    except KeyboardInterrupt:
        print("bench.peers: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        group.stop_all()
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = aggregate(rows, [target.name for target in targets])
    table = markdown(summary, meta)
    save("bench.peers", stamp, {"meta": meta, "summary": summary, "runs": rows}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
