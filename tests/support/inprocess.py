"""The gateway in the test's own process and event loop: the fast lane's data plane and tool router.

What is real and what stands in:

- the gateway is ``create_app(settings)`` from :mod:`gateway.app`, its lifespan entered in the test's event
  loop, with the memory store, dev authentication and the local runtime (``router.replicas=0``: it starts
  no process). Test clients reach it through :mod:`tests.support.asgi` (streamed, so SSE and GET event
  streams work), as a dev identity (``X-Dev-UserId``, ``X-Dev-Roles``);
- upstreams are real servers on loopback sockets, because the gateway's own aiohttp client has to connect
  to them: ASGI apps served by uvicorn on a background thread (:func:`serve`; the sample servers by
  :func:`sample_mcp_app` and :func:`sample_module`), registered as ``url`` adapters or tools, which the
  development environment lets reach loopback (``gateway.netpolicy``);
- the tool router (``router=True``) is the real app from ``toolrouter.create_router_app``, built from the
  very environment the local runtime would give its process (``local_router_spec`` through
  ``child_environment``), served on a thread. Only process spawning is replaced: the real
  :class:`~gateway.runtimes.local.runtime.LocalRuntime` runs the router workload
  (``gateway.names.ROUTER_WORKLOAD``) as a ``url`` source pointing at that server, so ``/mcp`` finds it the
  way it finds a local replica. The router reads the gateway's real ``/internal/tool-catalog`` through a
  loopback relay (:class:`CatalogRelay`), since the in-process gateway has no socket of its own.

A test written for this runs nothing but threads: no subprocess, no ``slow`` mark. Keep the mark, and a
:class:`tests.support.gateway_process.GatewayProcess`, where the socket or the process is the point
(SSE timing, client disconnects, raw HTTP, server limits, process lifecycle).

Usage (async tests; the gateway is made per test, upstreams may live longer)::

    @pytest.fixture(scope="module")
    def example() -> Iterator[str]:
        with serve(sample_mcp_app(MCP_EXAMPLE)) as server:
            yield f"{server.url}/mcp"

    async def test_something(example: str) -> None:
        async with in_process_gateway() as gateway:
            await gateway.add_adapter("mcp-example", example, roles=["mcp.user"])
            async with gateway.mcp_client("/adapters/mcp-example/mcp", user="carol", roles="mcp.user") as mcp:
                assert [t.name for t in (await mcp.list_tools()).tools] == ["add"]
            response = await gateway.client("carol", "mcp.other").post("/adapters/mcp-example/mcp", json={})
            assert response.status_code == 403
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import os
from collections.abc import AsyncIterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import httpx
from fastapi import FastAPI
from mcp import Client

from gateway.app import create_app
from gateway.context import GatewayContext
from gateway.names import ROUTER_WORKLOAD
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.factory import local_router_spec
from gateway.runtimes.local.runtime import child_environment
from gateway.settings import GatewaySettings
from tests.support.asgi import StreamingASGITransport, StreamingASGITransport2, running_lifespan
from tests.support.mcp_client import sdk_client
from tests.support.servers import HTTPServerThread, UvicornThread, http_server
from toolrouter import ToolRouterSettings, create_router_app

CLIENT_ADDRESS = ("127.0.0.1", 50000)
"""The peer address the gateway sees for every in-process request (a loopback client, as in the process
tests)."""

# --- upstreams on a thread --------------------------------------------------------------------------------


def serve(app: Any, **config: Any) -> UvicornThread:
    """``app`` for uvicorn on 127.0.0.1, port 0, in a background thread (lifespan on), not started yet: use
    it as a context manager (``with serve(app) as server: server.url``)."""
    return UvicornThread(app, **{"lifespan": "on", "start_timeout": 10, "stop_timeout": 10, **config})


_loaded = itertools.count()


def sample_module(script: Path, **env: str) -> ModuleType:
    """A fresh copy of a sample server's module (its globals, say a per-replica counter, start anew), run
    with ``env`` added to the environment while it is imported (``MCP_REPLICA_ID``, ...)."""
    name = f"_sample_{script.parents[1].name.replace('-', '_')}_{next(_loaded)}"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None, script
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, env):
        spec.loader.exec_module(module)
    return module


def sample_mcp_app(script: Path, **env: str) -> Any:
    """The ASGI app a sample MCP server (``sample-servers/*/src/main.py``, an ``MCPServer`` named ``app``)
    serves when run on loopback: ``app.run("streamable-http", host="127.0.0.1")``."""
    return sample_module(script, **env).app.streamable_http_app(host="127.0.0.1")


# --- settings ---------------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def gateway_settings(overrides: Mapping[str, Any] | None = None) -> GatewaySettings:
    """Memory store, dev auth on loopback, the local runtime with no router process; ``overrides`` is merged
    into that by section (``{"proxy": {"max_in_flight_per_user": 5}}``)."""
    base: dict[str, Any] = {
        "server": {"host": "127.0.0.1"},
        "store": {"kind": "memory"},
        "sessions": {"kind": "memory"},
        "auth": {"mode": "dev"},
        "runtime": {"kind": "local"},
        "router": {"replicas": 0},
    }
    return GatewaySettings.model_validate(_merge(base, overrides or {}))


# --- the tool router --------------------------------------------------------------------------------------


class CatalogRelay:
    """A loopback HTTP server whose ``GET`` is answered by the in-process gateway's own endpoint of the same
    path (``/internal/tool-catalog``): the router on its thread needs a socket to poll, the gateway has none.

    Each request is run on the gateway's event loop (the test's), so that loop must not be blocked by
    synchronous waits while the router polls: in-process tests are async.
    """

    FORWARDED = ("accept", "if-none-match", "x-gateway-secret")
    RETURNED = ("content-type", "etag", "cache-control")

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, timeout: float = 5.0) -> None:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in relay.FORWARDED}
                try:
                    answer = asyncio.run_coroutine_threadsafe(client.get(self.path, headers=headers), loop)
                    response = answer.result(timeout)
                except Exception:  # the gateway is gone or stuck: what a router sees of a gateway restart
                    self.send_error(503)
                    return
                self.send_response(response.status_code)
                for name in relay.RETURNED:
                    if name in response.headers:
                        self.send_header(name, response.headers[name])
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server: HTTPServerThread[Any] = http_server(Handler)

    @property
    def url(self) -> str:
        return self.server.url


def router_settings(settings: GatewaySettings, secret: str, catalog_url: str) -> ToolRouterSettings:
    """The settings a router process started by the local runtime reads: the environment of
    ``local_router_spec`` as ``child_environment`` passes it (no ``MCPGW_*`` of the test's own), with the
    catalog at ``catalog_url`` and port 0."""
    spec = local_router_spec(settings, secret)
    env = child_environment({**spec.env, "MCPGW_ROUTER__CATALOG_URL": catalog_url, "PORT": "0"})
    with mock.patch.dict(os.environ, env, clear=True):
        return ToolRouterSettings()


# --- the gateway ------------------------------------------------------------------------------------------


class InProcessGateway:
    """A running in-process gateway (see the module doc). Clients it makes are closed with it."""

    def __init__(self, app: FastAPI, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.base_url = f"http://127.0.0.1:{settings.server.port}"
        self.router: UvicornThread | None = None
        """The tool router's server (``router=True``)."""
        self.router_app: Any = None
        self._clients: list[httpx.AsyncClient] = []

    @property
    def ctx(self) -> GatewayContext:
        context: GatewayContext = self.app.state.ctx
        return context

    def client(self, user: str | None = "alice", roles: str | None = None, **options: Any) -> httpx.AsyncClient:
        """An ``httpx`` client of the gateway as dev identity ``user`` with ``roles`` (comma-separated; None:
        no ``X-Dev-Roles`` header). Relative URLs: ``client.post("/adapters", json=...)``."""
        headers: dict[str, str] = {}
        if user is not None:
            headers["X-Dev-UserId"] = user
        if roles is not None:
            headers["X-Dev-Roles"] = roles
        headers.update(options.pop("headers", {}))
        client = httpx.AsyncClient(
            transport=StreamingASGITransport(self.app, client=CLIENT_ADDRESS),
            base_url=self.base_url,
            headers=headers,
            timeout=options.pop("timeout", 30),
            **options,
        )
        self._clients.append(client)
        return client

    @contextlib.asynccontextmanager
    async def mcp_client(
        self,
        path: str,
        user: str = "carol",
        roles: str = "mcp.user",
        mode: str = "legacy",
        extra_headers: dict[str, str] | None = None,
        message_handler: Any = None,
    ) -> AsyncIterator[Client]:
        """The official SDK client on ``path`` (``/mcp``, ``/adapters/x/mcp``) as a dev identity, like
        ``tests.integration.dataplane.conftest.mcp_client`` does over a socket."""
        transport = StreamingASGITransport2(self.app, client=CLIENT_ADDRESS)
        url = f"{self.base_url}{path}"
        async with sdk_client(url, user, roles, mode, extra_headers, message_handler, transport) as client:
            yield client

    async def add_adapter(
        self, name: str, url: str, roles: list[str] | None = None, owner: str = "owner", **fields: Any
    ) -> None:
        """Register a ``url`` adapter as ``owner``; fails the test unless it is created."""
        body = {"name": name, "url": url, "requiredRoles": roles or [], **fields}
        response = await self.client(owner).post("/adapters", json=body)
        assert response.status_code == 201, response.text

    async def start_router(self) -> None:
        """Start the tool router (see the module doc) and route ``/mcp`` to it. Its first catalog poll happens
        before it serves, so tools registered before this call are listed at once."""
        assert self.router is None, "the router is running already"
        loop = asyncio.get_running_loop()
        relay = CatalogRelay(self.client(None), loop)
        self._stack.enter_context(relay.server)
        catalog_url = f"{relay.url}/internal/tool-catalog"
        self.router_app = create_router_app(router_settings(self.settings, self.ctx.router_secret, catalog_url))
        router = serve(self.router_app, timeout_graceful_shutdown=5)
        # Started from a worker thread: the router's first catalog poll runs on this loop, through the relay.
        await asyncio.to_thread(router.start)
        self._async_stack.push_async_callback(asyncio.to_thread, router.stop)
        self.router = router
        spec = WorkloadSpec(name=ROUTER_WORKLOAD, kind=WorkloadKind.ROUTER, url=f"{router.url}/mcp")
        await self.ctx.runtime.ensure(spec)

    async def __aenter__(self) -> InProcessGateway:
        self._stack = contextlib.ExitStack()
        self._async_stack = contextlib.AsyncExitStack()
        await self._async_stack.__aenter__()
        try:
            await self._async_stack.enter_async_context(running_lifespan(self.app))
            self._async_stack.push_async_callback(self._close_clients)
            self._async_stack.callback(self._stack.close)
        except BaseException:
            await self._async_stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._async_stack.aclose()

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def in_process_gateway(
    overrides: Mapping[str, Any] | None = None, *, router: bool = False
) -> AsyncIterator[InProcessGateway]:
    """A gateway app in this event loop (settings: :func:`gateway_settings` with ``overrides``), with the
    tool router on a thread when ``router`` is set (or once :meth:`InProcessGateway.start_router` is
    called). Everything it started is stopped on exit."""
    settings = gateway_settings(overrides)
    gateway = InProcessGateway(create_app(settings), settings)
    async with gateway:
        if router:
            await gateway.start_router()
        yield gateway

