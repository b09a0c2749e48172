"""The whole path in one process, so its spans can be read back: gateway, tool router, MCP server, tool.

- the gateway app (``create_app``: memory store, local runtime, no router processes) served by uvicorn on a
  loop in a thread; the in-process tool router is registered with its runtime as the ``toolrouter`` URL;
- the tool router (``create_router_app``) polling the gateway's real ``/internal/tool-catalog``;
- the sample MCP server (``sample-servers/mcp-example``) as a subprocess on ``$PORT``;
- a tool endpoint that echoes its arguments and records the headers it received.

Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.names import ROUTER_WORKLOAD
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.settings import GatewaySettings
from tests.helpers import MCP_EXAMPLE, PYTHON, REPO, free_port, wait_for
from toolrouter import ToolRouterSettings

ROUTER_SECRET = "router-secret-for-telemetry-tests-0123456789"


class LoopServer:
    """uvicorn serving ``app`` on its own event loop in a thread; ``run`` executes coroutines on that loop."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="debug"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True)

    def __enter__(self) -> LoopServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, what=f"uvicorn on {self.url}")
        return self

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=20)

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class ToolEndpoint:
    """POST /echo answers the arguments back and remembers the request headers."""

    received: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def echo(request: Request) -> JSONResponse:
            self.received.append(dict(request.headers))
            return JSONResponse({"echo": await request.json()})

        return Starlette(routes=[Route("/echo", echo, methods=["POST"])])


@dataclass
class Stack:
    gateway: LoopServer
    router: LoopServer
    tool: ToolEndpoint
    mcp_server_url: str
    tool_url: str

    def client(self, user: str = "alice", **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, headers={"X-Dev-UserId": user, **headers}, timeout=30)


def gateway_settings() -> GatewaySettings:
    return GatewaySettings.model_validate(
        {"store": {"kind": "memory"}, "router": {"replicas": 0, "secret": ROUTER_SECRET}}
    )


def start_mcp_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, str(MCP_EXAMPLE)],
        env={**os.environ, "PORT": str(port)},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout=30, what="the mcp-example server")
    return process, url


def router_settings(catalog_url: str) -> ToolRouterSettings:
    return ToolRouterSettings.model_validate(
        {
            "secret": ROUTER_SECRET,
            "catalog_url": catalog_url,
            "catalog_poll_seconds": 0.2,
            "port": 0,
            # As the local runtime tells its routers: development, so `url` tools on loopback are allowed.
            "MCPGW_SERVER__ENVIRONMENT": "development",
        }
    )


def register_router(gateway: LoopServer, app: Any, router_url: str) -> None:
    spec = WorkloadSpec(name=ROUTER_WORKLOAD, kind=WorkloadKind.ROUTER, replicas=1, url=f"{router_url}/mcp")
    gateway.run(app.state.ctx.runtime.ensure(spec))


def tool_body(name: str, url: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    return {
        "name": name,
        "url": url,
        "toolDefinition": {"tool": {"name": name, "description": "echoes", "inputSchema": schema}, "path": "/echo"},
    }
