"""Real servers on loopback sockets for the tool router tests.

- ``FakeCatalog``: a small Starlette app standing in for the gateway's internal catalog endpoint
  (``GET /internal/tool-catalog``). It is a test double for the gateway, written to the contract in
  docs/toolrouter.md, not the gateway itself.
- ``tool_server``: HTTP tool endpoints written for these tests (JSON, text, array, HTTP 500, slow, huge,
  echo of the request headers), plus the real sample weather tool run as a subprocess.
- ``router``: the tool router app from ``create_router_app`` served by uvicorn in a thread.
- ``connect``: the real ``mcp`` SDK client over ``httpx2``, with the gateway's headers.

Nothing sleeps for synchronisation: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from toolrouter import ToolRouterSettings, create_router_app

SECRET = "test-gateway-secret"
REPO = Path(__file__).resolve().parents[3]
WEATHER_MAIN = REPO / "sample-servers" / "tool-example" / "src" / "main.py"
SLOW_TOOL_TIMEOUT_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def eventually(condition: Callable[[], bool], *, within: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class ThreadedServer:
    """An ASGI app served by uvicorn on a free loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        wait_until(lambda: self._server.started, what=f"uvicorn on {self.url}")
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


# --- the catalog endpoint (test double of the gateway) -------------------------------------------------


@dataclass
class FakeCatalog:
    """Mutable catalog served like the gateway's internal endpoint: ETag, If-None-Match, the secret."""

    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    revision: int = 1
    requests: int = 0
    failing: bool = False
    """When set, the endpoint answers 503 (a gateway restart, say)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(
        self,
        name: str,
        urls: list[str],
        *,
        created_by: str = "alice",
        required_roles: list[str] | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        description: str | None = None,
    ) -> None:
        tool: dict[str, Any] = {
            "name": name,
            "title": name.title(),
            "description": description or f"The {name} tool.",
            "inputSchema": input_schema or {"type": "object"},
            "annotations": {"readOnlyHint": True},
        }
        if output_schema is not None:
            tool["outputSchema"] = output_schema
        item = {
            "name": name,
            "tool": tool,
            "createdBy": created_by,
            "requiredRoles": required_roles or [],
            "urls": urls,
            "timeoutSeconds": timeout_seconds,
        }
        with self.lock:
            self.tools[name] = item
            self.revision += 1

    def delete(self, name: str) -> None:
        with self.lock:
            self.tools.pop(name, None)
            self.revision += 1

    def app(self) -> Starlette:
        async def catalog(request: Request) -> Response:
            with self.lock:
                self.requests += 1
                if self.failing:
                    return JSONResponse({"error": "restarting"}, status_code=503)
                if request.headers.get("x-gateway-secret") != SECRET:
                    return JSONResponse({"error": "unauthorized"}, status_code=401)
                etag = f'"{self.revision}"'
                if request.headers.get("if-none-match") == etag:
                    return Response(status_code=304, headers={"ETag": etag})
                body = {"version": etag, "tools": list(self.tools.values())}
            return JSONResponse(body, headers={"ETag": etag})

        return Starlette(routes=[Route("/internal/tool-catalog", catalog)])


# --- tool servers --------------------------------------------------------------------------------------


@dataclass
class ToolServer:
    url: str
    received_headers: list[dict[str, str]]
    release_slow: threading.Event


def tool_app(received_headers: list[dict[str, str]], release_slow: threading.Event) -> Starlette:
    async def ok(request: Request) -> Response:
        received_headers.append(dict(request.headers))
        arguments = await request.json()
        return JSONResponse({"echo": arguments, "ok": True})

    async def text(_: Request) -> Response:
        return PlainTextResponse("plain words")

    async def array(_: Request) -> Response:
        return JSONResponse([1, 2, 3])

    async def fail(_: Request) -> Response:
        return PlainTextResponse("database exploded", status_code=500)

    async def slow(_: Request) -> Response:
        # Held until the test session ends, far longer than the tool's time-out.
        await asyncio.get_running_loop().run_in_executor(None, release_slow.wait, 30)
        return JSONResponse({"late": True})

    async def huge(_: Request) -> Response:
        return PlainTextResponse("x" * (2 * 1024 * 1024))

    return Starlette(
        routes=[
            Route("/ok", ok, methods=["POST"]),
            Route("/text", text, methods=["POST"]),
            Route("/array", array, methods=["POST"]),
            Route("/fail", fail, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
            Route("/huge", huge, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="session")
def tool_server() -> Iterator[ToolServer]:
    received: list[dict[str, str]] = []
    release = threading.Event()
    with ThreadedServer(tool_app(received, release)) as server:
        yield ToolServer(server.url, received, release)
        release.set()


@pytest.fixture(scope="session")
def weather_url() -> Iterator[str]:
    """The real sample weather tool (sample-servers/tool-example), as its own process."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, str(WEATHER_MAIN)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"weather tool exited with {proc.returncode}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=30, what="the weather sample tool")
        yield f"{base}/score"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/nothing-listens-here"


# --- the router ----------------------------------------------------------------------------------------


@dataclass
class RouterUnderTest:
    mcp_url: str
    base_url: str
    catalog: FakeCatalog
    app: Any

    def has_current_catalog(self) -> bool:
        """True once the router has loaded the catalog's latest revision."""
        return bool(self.app.state.catalog.current.version == f'"{self.catalog.revision}"')

    async def synced(self) -> None:
        await eventually(self.has_current_catalog, what="the router to load the latest catalog")


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
def catalog_server(catalog: FakeCatalog) -> Iterator[str]:
    with ThreadedServer(catalog.app()) as server:
        yield f"{server.url}/internal/tool-catalog"


@pytest.fixture
def router(catalog: FakeCatalog, catalog_server: str) -> Iterator[RouterUnderTest]:
    settings = ToolRouterSettings(
        secret=SECRET,
        catalog_url=catalog_server,
        catalog_poll_seconds=0.2,
        call_timeout_seconds=10,
        max_response_bytes=1024 * 1024,
    )
    app = create_router_app(settings)
    with ThreadedServer(app) as server:
        yield RouterUnderTest(f"{server.url}/mcp", server.url, catalog, app)


Connect = Callable[..., AbstractAsyncContextManager[Client]]


def gateway_headers(user: str | None, roles: list[str] | None, secret: str | None = SECRET) -> dict[str, str]:
    headers: dict[str, str] = {}
    if secret is not None:
        headers["X-Gateway-Secret"] = secret
    if user is not None:
        headers["X-Mcp-UserId"] = user
    if roles:
        headers["X-Mcp-Roles"] = ",".join(roles)
    return headers


@pytest.fixture
def connect(router: RouterUnderTest) -> Connect:
    """Open an SDK client to the router as ``user`` with ``roles``, the way the gateway forwards them."""

    @asynccontextmanager
    async def _connect(
        user: str | None,
        roles: list[str] | None = None,
        *,
        mode: str = "legacy",
        on_message: Callable[[IncomingMessage], None] | None = None,
        on_response: Callable[[httpx2.Response], None] | None = None,
    ) -> AsyncIterator[Client]:
        async def handler(message: IncomingMessage) -> None:
            if on_message is not None:
                on_message(message)

        async def response_hook(response: httpx2.Response) -> None:
            if on_response is not None:
                on_response(response)

        http = httpx2.AsyncClient(
            headers=gateway_headers(user, roles),
            timeout=httpx2.Timeout(30, read=60),
            event_hooks={"response": [response_hook]},
        )
        async with http:
            transport = streamable_http_client(router.mcp_url, http_client=http)
            async with Client(transport, mode=mode, message_handler=handler) as client:  # type: ignore[arg-type]
                yield client

    return _connect
