"""The whole path in one process, so its spans can be read back: gateway, tool router, MCP server, tool.

- the gateway app (``create_app``: memory store, local runtime, no router processes) served by uvicorn on a
  loop in a thread (:func:`loop_server`); the in-process tool router is registered with its runtime as the
  ``toolrouter`` URL;
- the tool router (``create_router_app``) polling the gateway's real ``/internal/tool-catalog``;
- the sample MCP server (``sample-servers/mcp-example``) as a subprocess on ``$PORT``;
- a tool endpoint that echoes its arguments and records the headers it received.

Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.names import ROUTER_WORKLOAD
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.settings import GatewaySettings
from tests.support.paths import MCP_EXAMPLE, PYTHON, REPO
from tests.support.ports import free_port
from tests.support.servers import UvicornThread
from tests.support.waiting import wait_for
from toolrouter import ToolRouterSettings

ROUTER_SECRET = "router-secret-for-telemetry-tests-0123456789"


def loop_server(app: Any) -> UvicornThread:
    """uvicorn serving ``app`` on its own asyncio loop in a thread; ``run`` executes coroutines on that loop."""
    return UvicornThread(app, log_level="debug", loop="asyncio")


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
    gateway: UvicornThread
    router: UvicornThread
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


def register_router(gateway: UvicornThread, app: Any, router_url: str) -> None:
    spec = WorkloadSpec(name=ROUTER_WORKLOAD, kind=WorkloadKind.ROUTER, replicas=1, url=f"{router_url}/mcp")
    gateway.run(app.state.ctx.runtime.ensure(spec))


def tool_body(name: str, url: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    return {
        "name": name,
        "url": url,
        "toolDefinition": {"tool": {"name": name, "description": "echoes", "inputSchema": schema}, "path": "/echo"},
    }
