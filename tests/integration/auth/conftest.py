"""Fixtures: a real OpenID provider, an MCP server that records what it receives, and gateways in
``oidc`` mode trusting that provider, all on loopback sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.runtimes.mcp_probe import USER_AGENT as PROBE_USER_AGENT
from gateway.settings import GatewaySettings
from tests.support.oidc_issuer import TENANT_PATH, TestIssuer
from tests.support.servers import UvicornThread

AUDIENCE = "api://gateway"
SCOPE = "api://gateway/access"


@contextmanager
def serve(app: Any, log_level: str = "warning") -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of ``app`` served by uvicorn (on an asyncio loop) in a background thread."""
    with UvicornThread(app, log_level=log_level, lifespan="on", loop="asyncio") as server:
        yield server.url


class HeaderCapture:
    """ASGI wrapper that records the headers of every HTTP request reaching the adapter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if headers.get("user-agent") != PROBE_USER_AGENT:  # not the gateway's readiness probe of the url
                self.seen.append(headers)
        await self.app(scope, receive, send)


class Backend:
    def __init__(self, url: str, capture: HeaderCapture) -> None:
        self.url = url
        self.capture = capture


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    provider = TestIssuer()
    with serve(provider.app) as base:
        provider.issuer = base + TENANT_PATH
        yield provider


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    server = MCPServer(name="capture", version="1.0.0")

    @server.tool()
    def whoami() -> str:
        """Answers with a constant; the interesting part is what headers arrived."""
        return "ok"

    capture = HeaderCapture(server.streamable_http_app(stateless_http=True, json_response=True))
    with serve(capture) as base:
        yield Backend(f"{base}/mcp", capture)


GatewayFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="module")
def start_gateway(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> GatewayFactory:
    """Starts a gateway (memory store, no tool router) trusting ``issuer``; auth settings can be overridden."""

    @contextmanager
    def start(log_level: str = "warning", **auth: Any) -> Iterator[str]:
        data_dir: Path = tmp_path_factory.mktemp("gw")
        settings = GatewaySettings.model_validate({
            "server": {"data_dir": str(data_dir)},
            "store": {"kind": "memory"},
            "router": {"replicas": 0},
            "auth": {"mode": "oidc", "issuer": issuer.issuer, "audience": [AUDIENCE],
                     "scopes_supported": [SCOPE], "jwks_refresh_min_interval_seconds": 0, **auth},
        })
        with serve(create_app(settings), log_level=log_level) as base:
            yield base

    return start


@pytest.fixture(scope="module")
def gateway(start_gateway: GatewayFactory) -> Iterator[str]:
    with start_gateway() as base:
        yield base
