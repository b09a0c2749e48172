"""The tool router under test, and real servers on loopback sockets for it to call.

- ``FakeCatalog``: a small Starlette app standing in for the gateway's internal catalog endpoint
  (``GET /internal/tool-catalog``). It is a test double for the gateway, written to the contract in
  docs/toolrouter.md, not the gateway itself. One server (uvicorn in a thread) serves the catalog of
  whichever test runs.
- ``tool_server``: HTTP tool endpoints written for these tests (JSON, text, array, HTTP 500, slow, huge,
  echo of the request headers), and the real sample weather tool (sample-servers/tool-example) served
  the same way: uvicorn in a thread (:func:`threaded`, a :class:`tests.support.servers.UvicornThread`).
- ``router``: the tool router app from ``create_router_app`` in the test's own event loop, its lifespan
  running as in a server (catalog poller, session manager, tool executor); clients reach it through the
  streaming in-process transport (tests/support/asgi.py). The router's own HTTP clients are real: it
  polls the catalog and calls the tools over loopback sockets. ``router_on_socket``: the same app served
  by uvicorn, for the tests that send raw bytes.
- ``connect``: the real ``mcp`` SDK client over ``httpx2``, with the gateway's headers (and, for a virtual
  server, ``X-Mcp-Virtual-Server`` as the gateway's ``/servers/{name}/mcp`` route adds it).
- adapters for virtual servers: the real sample MCP server (sample-servers/mcp-example) and an "issues"
  MCP server written for these tests (tools with and without ``readOnlyHint``, a prompt, resources), each
  served on a thread behind a recorder of the request headers it receives (:class:`Adapter`).

Nothing sleeps for synchronisation: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.asgi import StreamingASGITransport, StreamingASGITransport2, running_lifespan
from tests.support.inprocess import sample_mcp_app, sample_module
from tests.support.paths import MCP_EXAMPLE, TOOL_EXAMPLE
from tests.support.ports import free_port
from tests.support.servers import UvicornThread
from tests.support.waiting import async_wait_for
from toolrouter import ToolRouterSettings, create_router_app

SECRET = "test-gateway-secret"
SLOW_TOOL_TIMEOUT_SECONDS = 0.5


def threaded(app: Any) -> UvicornThread:
    """An ASGI app served by uvicorn on a loopback port in a background thread (lifespan on)."""
    return UvicornThread(app, lifespan="on", start_timeout=10, stop_timeout=10)


# --- the catalog endpoint (test double of the gateway) -------------------------------------------------


@dataclass
class FakeCatalog:
    """Mutable catalog served like the gateway's internal endpoint: ETag, If-None-Match, the secret.

    ``adapters`` and ``servers`` (virtual servers) are in the body only once something was put there, as an
    older gateway sends neither list."""

    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    adapters: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)
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

    def put_adapter(
        self,
        name: str,
        urls: list[str],
        *,
        created_by: str = "alice",
        required_roles: list[str] | None = None,
        remote: bool = False,
    ) -> None:
        item = {
            "name": name,
            "createdBy": created_by,
            "requiredRoles": required_roles or [],
            "urls": urls,
            "remote": remote,
        }
        self.put_raw("adapters", name, item)

    def put_server(
        self,
        name: str,
        members: list[dict[str, Any]],
        *,
        created_by: str = "alice",
        required_roles: list[str] | None = None,
        tool_search: str = "off",
        description: str | None = None,
    ) -> None:
        item = {
            "name": name,
            "createdBy": created_by,
            "requiredRoles": required_roles or [],
            "description": description or f"The {name} server.",
            "members": members,
            "toolSearch": tool_search,
        }
        self.put_raw("servers", name, item)

    def put_raw(self, kind: str, key: str, item: Any) -> None:
        """Any item (malformed ones too) in the ``adapters`` or ``servers`` list, under ``key``."""
        with self.lock:
            getattr(self, kind)[key] = item
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
                body: dict[str, Any] = {"version": etag, "tools": list(self.tools.values())}
                if self.adapters or self.servers:
                    body["adapters"] = list(self.adapters.values())
                    body["servers"] = list(self.servers.values())
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
    with threaded(tool_app(received, release)) as server:
        yield ToolServer(server.url, received, release)
        release.set()


@pytest.fixture(scope="session")
def weather_url() -> Iterator[str]:
    """The real sample weather tool (sample-servers/tool-example, its FastAPI app), served on a thread."""
    with threaded(sample_module(TOOL_EXAMPLE).app) as server:
        yield f"{server.url}/score"


@pytest.fixture(scope="session")
def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/nothing-listens-here"


# --- the router ----------------------------------------------------------------------------------------


ROUTER_BASE_URL = "http://127.0.0.1:8000"
"""Where in-process clients address the router (its Host header; the router's settings port)."""


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
        await async_wait_for(
            self.has_current_catalog, timeout=5, interval=0.02, what="the router to load the latest catalog"
        )

    def http(self, **options: Any) -> httpx.AsyncClient:
        """An ``httpx`` client of the in-process router (``mcp_url`` and ``base_url`` are its URLs)."""
        return httpx.AsyncClient(transport=StreamingASGITransport(self.app), **options)


class CatalogHost:
    """The one catalog server of the session, answering with the current test's :class:`FakeCatalog` app."""

    def __init__(self) -> None:
        self.current: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if self.current is None:
            response: Response = JSONResponse({"error": "no test is running"}, status_code=503)
            await response(scope, receive, send)
            return
        await self.current(scope, receive, send)


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture(scope="session")
def catalog_host() -> Iterator[tuple[CatalogHost, str]]:
    host = CatalogHost()
    with UvicornThread(host, lifespan="off", start_timeout=10, stop_timeout=10) as server:
        yield host, server.url


@pytest.fixture
def catalog_server(catalog: FakeCatalog, catalog_host: tuple[CatalogHost, str]) -> Iterator[str]:
    host, url = catalog_host
    host.current = catalog.app()
    yield f"{url}/internal/tool-catalog"
    host.current = None


def router_settings(catalog_url: str) -> ToolRouterSettings:
    return ToolRouterSettings(
        secret=SECRET,
        catalog_url=catalog_url,
        catalog_poll_seconds=0.05,
        call_timeout_seconds=10,
        max_response_bytes=1024 * 1024,
    )


@pytest.fixture
async def router(
    catalog: FakeCatalog, catalog_server: str, request: pytest.FixtureRequest
) -> AsyncIterator[RouterUnderTest]:
    """The router in process; ``indirect`` parametrization may change its settings (a dict of fields)."""
    settings = router_settings(catalog_server).model_copy(update=getattr(request, "param", {}))
    app = create_router_app(settings)
    async with running_lifespan(app):
        yield RouterUnderTest(f"{ROUTER_BASE_URL}/mcp", ROUTER_BASE_URL, catalog, app)


@pytest.fixture
def router_on_socket(catalog: FakeCatalog, catalog_server: str) -> Iterator[RouterUnderTest]:
    """The router served by uvicorn on a loopback port (lifespan on), for raw bytes over a socket."""
    app = create_router_app(router_settings(catalog_server))
    with threaded(app) as server:
        yield RouterUnderTest(f"{server.url}/mcp", server.url, catalog, app)


Connect = Callable[..., AbstractAsyncContextManager[Client]]


def gateway_headers(
    user: str | None, roles: list[str] | None, secret: str | None = SECRET, server: str | None = None
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if secret is not None:
        headers["X-Gateway-Secret"] = secret
    if user is not None:
        headers["X-Mcp-UserId"] = user
    if roles:
        headers["X-Mcp-Roles"] = ",".join(roles)
    if server is not None:
        headers["X-Mcp-Virtual-Server"] = server
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
        server: str | None = None,
    ) -> AsyncIterator[Client]:
        async def handler(message: IncomingMessage) -> None:
            if on_message is not None:
                on_message(message)

        async def response_hook(response: httpx2.Response) -> None:
            if on_response is not None:
                on_response(response)

        http = httpx2.AsyncClient(
            transport=StreamingASGITransport2(router.app),
            headers=gateway_headers(user, roles, server=server),
            timeout=httpx2.Timeout(30, read=60),
            event_hooks={"response": [response_hook]},
        )
        async with http:
            transport = streamable_http_client(router.mcp_url, http_client=http)
            async with Client(transport, mode=mode, message_handler=handler) as client:  # type: ignore[arg-type]
                yield client

    return _connect


# --- adapters (MCP servers) for virtual servers -------------------------------------------------------------


@dataclass
class Adapter:
    """An MCP server on a loopback port: its endpoint, and the headers of every request it received."""

    url: str
    received: list[dict[str, str]]

    def identities(self) -> set[tuple[str | None, str | None]]:
        """The (X-Mcp-UserId, X-Mcp-Roles) pairs the adapter has seen."""
        return {(h.get("x-mcp-userid"), h.get("x-mcp-roles")) for h in self.received}


def recording(app: Any, received: list[dict[str, str]]) -> Any:
    """``app`` behind a pure ASGI wrapper that keeps each HTTP request's headers (lower-case names)."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            received.append({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        await app(scope, receive, send)

    return wrapper


def issues_app() -> Any:
    """An MCP server written for these tests: read-only and destructive tools, a failing one, a prompt and
    resources (both protocol eras, as any ``MCPServer``)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations

    app = MCPServer(name="Issues", version="1.0.0", log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True)

    @app.tool(description="Get one issue by number", annotations=read_only)
    def get_issue(number: int) -> dict[str, Any]:
        return {"number": number, "title": f"Issue {number}", "state": "open"}

    @app.tool(description="Get a user by login", annotations=read_only)
    def get_user(login: str) -> dict[str, Any]:
        return {"login": login}

    @app.tool(description="Search issues by words in their title or body", annotations=read_only)
    def search_issues(query: str) -> dict[str, Any]:
        return {"query": query, "found": [1, 2]}

    @app.tool(description="Delete an issue for good", annotations=ToolAnnotations(destructive_hint=True))
    def delete_issue(number: int) -> str:
        return f"deleted {number}"

    @app.tool(description="Always fails")
    def broken() -> str:
        raise ToolError("the issue tracker is on fire")

    @app.prompt(description="Triage an issue")
    def triage(number: str) -> str:
        return f"Please triage issue {number}."

    @app.resource("issues://readme", name="readme", description="How issues work", mime_type="text/plain")
    def readme() -> str:
        return "File issues with care."

    return app.streamable_http_app(host="127.0.0.1")


@pytest.fixture(scope="session")
def issues_adapter() -> Iterator[Adapter]:
    received: list[dict[str, str]] = []
    with threaded(recording(issues_app(), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


@pytest.fixture(scope="session")
def example_adapter() -> Iterator[Adapter]:
    """The real sample MCP server (sample-servers/mcp-example: one ``add`` tool)."""
    received: list[dict[str, str]] = []
    with threaded(recording(sample_mcp_app(MCP_EXAMPLE), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


def handshake_era_only(app: Any) -> Any:
    """``app`` as a server that speaks only the handshake era: a 2026-07-28 request (``server/discover``) gets
    the 400 and JSON-RPC error a server without that revision answers."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (b"mcp-protocol-version", b"2026-07-28") in scope["headers"]:
            response = JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Unsupported protocol version"}},
                status_code=400,
            )
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapper


@pytest.fixture(scope="session")
def legacy_issues_adapter() -> Iterator[Adapter]:
    """The issues server speaking only the handshake era (sessions, ``initialize``)."""
    received: list[dict[str, str]] = []
    with threaded(recording(handshake_era_only(issues_app()), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)
