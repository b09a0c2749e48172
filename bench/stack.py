"""Starts the system under test on loopback: two upstreams (JSON and SSE replies), the weather tool and
one gateway (with one tool router), and registers them with the gateway as ``url`` resources.

Registering the upstreams as ``url`` adapters means the gateway spawns nothing for them, so "direct" and
"through the gateway" hit the very same upstream process.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import PYTHON, REPO, Child, ProcessGroup, cpu_seconds, free_port, wait_http

BENCH_USER = {"x-dev-userid": "bench"}
WEATHER = REPO / "sample-servers" / "tool-example" / "src" / "main.py"
WEATHER_TOOL = {
    "name": "weather",
    "title": "Weather Information",
    "description": "Gets the current weather for a specified location.",
    "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@dataclass
class Stack:
    gateway: Child
    gateway_url: str
    upstreams: dict[str, tuple[Child, str]]
    """Reply mode ("json" or "sse") -> (process, its /mcp URL)."""
    weather: Child
    weather_url: str

    def router_pid(self) -> int | None:
        """The tool router is the gateway's child running ``toolrouter``."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                # The guard's command line names toolrouter too; the router is the guard's child.
                is_router = b"toolrouter" in cmdline and b"gateway.runtimes.local.guard" not in cmdline
                if is_router and _descends_from(ppid, self.gateway.pid):
                    return int(entry.name)
        return None

    def probe_for(self, *names: str) -> Any:
        """A probe that samples CPU seconds of the gateway and of the named extra processes."""
        pids = {"gateway": self.gateway.pid}
        for name in names:
            if name in self.upstreams:
                pids[f"upstream_{name}"] = self.upstreams[name][0].pid
            elif name == "weather":
                pids["weather"] = self.weather.pid
            elif name == "router" and (router := self.router_pid()) is not None:
                pids["router"] = router

        def probe() -> dict[str, float]:
            return {name: cpu_seconds(pid) for name, pid in pids.items()}

        return probe


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(8):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json", **BENCH_USER}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_stack(
    group: ProcessGroup, work_dir: Path, log_level: str, max_connections: int, extra_env: dict[str, str] | None = None
) -> Stack:
    upstreams: dict[str, tuple[Child, str]] = {}
    for mode in ("json", "sse"):
        port = free_port()
        argv = [PYTHON, "-m", "bench.upstream", "--port", str(port)] + (["--json"] if mode == "json" else [])
        child = group.start(f"upstream-{mode}", argv)
        upstreams[mode] = (child, f"http://127.0.0.1:{port}/mcp")
    weather_port = free_port()
    weather = group.start("weather", [PYTHON, str(WEATHER)], {"PORT": str(weather_port)})
    gw_port = free_port()
    gateway = group.start(
        "gateway",
        [
            PYTHON,
            "-m",
            "gateway",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(gw_port),
            "--data-dir",
            str(work_dir / "gateway-data"),
            "--log-level",
            log_level,
        ],
        {
            "MCPGW_ROUTER__REPLICAS": "1",
            "MCPGW_PROXY__MAX_CONNECTIONS": str(max_connections),
            # One bench identity opens 1,000 streams to one adapter: lift the per-user and per-adapter
            # bulkheads (128 and 512 by default) above that, as a deployment expecting such load would.
            "MCPGW_PROXY__MAX_IN_FLIGHT_PER_USER": str(max_connections),
            "MCPGW_PROXY__MAX_IN_FLIGHT_PER_ADAPTER": str(max_connections),
            # Every bench client connects from 127.0.0.1: no cap on connections per address.
            "MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT": "0",
            **(extra_env or {}),
        },
    )
    for child, url in upstreams.values():
        wait_http(child, url, ok=())  # a GET without a session is a 4xx: enough to know it listens
    wait_http(weather, f"http://127.0.0.1:{weather_port}/healthz")
    gateway_url = f"http://127.0.0.1:{gw_port}"
    wait_http(gateway, f"{gateway_url}/ping")
    stack = Stack(gateway, gateway_url, upstreams, weather, f"http://127.0.0.1:{weather_port}/score")
    _register(stack)
    return stack


def _register(stack: Stack) -> None:
    for mode, (_, url) in stack.upstreams.items():
        status, body = _request(
            "POST", f"{stack.gateway_url}/adapters", {"name": f"bench-{mode}", "url": url, "requiredRoles": []}
        )
        if status != 201:
            raise RuntimeError(f"registering bench-{mode} failed: {status} {body[:300]!r}")
    tool = {"name": "weather", "url": stack.weather_url, "requiredRoles": [], "toolDefinition": {"tool": WEATHER_TOOL}}
    status, body = _request("POST", f"{stack.gateway_url}/tools", tool)
    if status != 201:
        raise RuntimeError(f"registering the weather tool failed: {status} {body[:300]!r}")
    _wait_router_lists_weather(stack)


def _wait_router_lists_weather(stack: Stack, timeout: float = 60.0) -> None:
    """The router polls the catalog about once a second; wait until ``tools/list`` shows the tool."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    deadline = time.monotonic() + timeout
    last = b""
    while time.monotonic() < deadline:
        stack.gateway.check_alive()
        request = urllib.request.Request(
            f"{stack.gateway_url}/mcp",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": "2026-07-28",
                "mcp-method": "tools/list",
                **BENCH_USER,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                last = response.read()
                if b'"weather"' in last:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc).encode()
        time.sleep(0.25)
    raise TimeoutError(f"the tool router never listed 'weather' (last answer: {last[:300]!r})")
