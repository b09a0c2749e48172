"""Composition root of the tool router: ``create_router_app(settings)`` returns the ASGI app.

Request path: uvicorn -> IdentityMiddleware (secret, principal, virtual server) -> Starlette routes:
``GET /healthz`` and ``/mcp`` (the SDK's streamable HTTP session manager, stateful, which also serves
2026-07-28 stateless requests on the same endpoint by their ``MCP-Protocol-Version`` header).
``/mcp`` holds two MCP servers, each with its own session manager: ``/mcp`` itself (no
``X-Mcp-Virtual-Server``: the registered tools and, unless ``aggregate_adapters`` is off, every adapter's
tools, prompts and resources: ``CatalogServerHandlers``) and the virtual servers
(``toolrouter.virtual_handlers``), so neither's capabilities nor sessions leak into the other's.
The lifespan runs the session managers and the catalog poller; a catalog change is announced to
handshake-era sessions (``notifications/tools/list_changed``) and to 2026-07-28 ``subscriptions/listen``
streams alike.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from gateway.loopback import is_loopback_host
from gateway.netguard import ConnectGuard
from gateway.telemetry import redaction
from gateway.telemetry.tracing import configure_tracing
from toolrouter.catalog import Catalog, CatalogPoller
from toolrouter.executor import ToolExecutor
from toolrouter.handlers import SESSION_ID_HEADER, ToolHandlers
from toolrouter.identity import IdentityMiddleware, request_scope, virtual_server_of
from toolrouter.lean import LeanMcp
from toolrouter.sessions import OpenSessions
from toolrouter.settings import ToolRouterSettings
from toolrouter.telemetry import RouterTelemetry, RouterTelemetryMiddleware
from toolrouter.upstream import AdapterClient
from toolrouter.virtual_handlers import (
    CatalogServerHandlers,
    VirtualServerGate,
    VirtualServerHandlers,
    downstream_session_middleware,
)

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SERVER_NAME = "mcp-gateway-tool-router"
VIRTUAL_SERVER_NAME = "mcp-gateway-virtual-server"


class RouterServer(Server[Any]):
    """The low-level SDK server, advertising ``tools.listChanged`` to handshake-era clients (and, for a server
    with adapter members, ``prompts.listChanged`` and ``resources.listChanged``: see ``aggregating``).

    The session manager builds each session's InitializeResult from ``create_initialization_options()``
    with no arguments, so the flags have to be the default here.
    """

    aggregating = False

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        changed = self.aggregating
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(tools_changed=True, prompts_changed=changed, resources_changed=changed),
            experimental_capabilities,
            extensions,
        )


def create_router_app(settings: ToolRouterSettings) -> Starlette:
    """Build the router. Fails fast (ValueError from the settings) when production has no secret."""
    secret = settings.secret.get_secret_value() if settings.secret else None
    redaction.install()
    redaction.register_secret(secret)
    configure_tracing(settings.service_name, settings.otlp_endpoint)
    telemetry = RouterTelemetry(metrics_enabled=settings.metrics_enabled, audit_arguments=settings.audit_arguments)
    if secret is None:
        logger.warning(
            "MCPGW_ROUTER__SECRET is not set: the tool router accepts X-Mcp-UserId / X-Mcp-Roles from anyone "
            "who can reach %s:%s (development only).",
            settings.host,
            settings.port,
        )
    sessions = OpenSessions(settings.max_sessions)
    # The virtual servers' own registry: their sessions must not crowd /mcp's out of it.
    virtual_sessions = OpenSessions(settings.max_sessions)
    bus = InMemorySubscriptionBus()

    async def adapter_list_changed(adapter: str, kind: str) -> None:
        """An adapter's list changed (it said so): tell the sessions of the servers that include it."""
        catalog = poller.current
        servers = [name for name, s in catalog.servers.items() if any(m.adapter == adapter for m in s.members)]
        delivered = await virtual_sessions.notify_list_changed(kind, servers)
        entry = catalog.adapters.get(adapter)
        if settings.aggregate_adapters and entry is not None:
            # On /mcp, only the callers who may read the adapter hear that it changed.
            def may_read(caller: Principal | None) -> bool:
                return can_read(caller, entry.created_by, entry.required_roles)

            delivered += await sessions.notify_list_changed(kind, told=may_read)
        logger.info("adapter %r: its %s changed; notified %d sessions", adapter, kind, delivered)

    async def announce(catalog: Catalog) -> None:
        await bus.publish(ToolsListChanged())
        delivered = await sessions.notify_tools_changed() + await virtual_sessions.notify_tools_changed()
        logger.info(
            "tool catalog %s: %d tools; notified %d sessions",
            catalog.version,
            len(catalog.entries),
            delivered,
        )

    poller = CatalogPoller(
        None,  # the lifespan's catalog client
        settings.catalog_url,
        secret=secret,
        interval_seconds=settings.catalog_poll_seconds,
        on_change=announce,
    )
    executor = ToolExecutor(
        default_timeout_seconds=settings.call_timeout_seconds,
        max_response_bytes=settings.max_response_bytes,
        guard=ConnectGuard(settings.url_policy(), tuple(settings.dns_servers)),
    )
    handlers = ToolHandlers(poller, executor, sessions, telemetry)
    listen = ListenHandler(bus)
    # The list depends on the caller, and it changes whenever a tool is registered.
    private = CacheHint(ttl_ms=0, scope="private")
    cache_hints: dict[Any, CacheHint] = {"tools/list": private}
    aggregated_hints = {**cache_hints, "prompts/list": private, "resources/list": private, "resources/read": private}
    upstream = AdapterClient(
        executor,
        call_timeout_seconds=settings.call_timeout_seconds,
        list_timeout_seconds=settings.upstream_list_seconds,
        list_cache_seconds=settings.upstream_list_cache_seconds,
        max_response_bytes=settings.max_response_bytes,
        client_info=types.Implementation(name=SERVER_NAME, version=_version()),
        on_list_changed=adapter_list_changed,
    )
    if settings.aggregate_adapters:
        # /mcp is the virtual server of the whole catalog: the registered tools, then every adapter.
        aggregated = CatalogServerHandlers(poller, executor, upstream, handlers, telemetry)
        server = _aggregating_server(SERVER_NAME, "MCP Gateway tool router", aggregated, listen, aggregated_hints)
    else:
        server = RouterServer(
            SERVER_NAME,
            version=_version(),
            title="MCP Gateway tool router",
            on_list_tools=handlers.list_tools,
            on_call_tool=handlers.call_tool,
            get_tool_input_schema=handlers.input_schema,
            on_subscriptions_listen=listen,
            cache_hints=cache_hints,
        )
    server.add_notification_handler("notifications/initialized", types.NotificationParams, handlers.session_initialized)
    virtual = VirtualServerHandlers(poller, executor, upstream, telemetry)
    virtual_server = _aggregating_server(
        VIRTUAL_SERVER_NAME, "MCP Gateway virtual server", virtual, listen, aggregated_hints, virtual.middleware
    )
    virtual_server.add_notification_handler(
        "notifications/initialized",
        types.NotificationParams,
        ToolHandlers(poller, executor, virtual_sessions, telemetry).session_initialized,
    )
    security = _transport_security(settings.host)
    manager, virtual_manager = (
        StreamableHTTPSessionManager(
            app=mcp_server,
            stateless=False,
            # /mcp answers each POST with one JSON body rather than a one-event SSE stream: it sends nothing
            # else on a request's stream (list_changed goes on the GET stream or subscriptions/listen), and the
            # SSE machinery was a large share of its CPU. A virtual server streams: what its adapters send
            # during a request (progress, logging, sampling, elicitation, roots) is relayed on that stream.
            json_response=mcp_server is server,
            security_settings=security,
            session_idle_timeout=settings.session_idle_timeout_seconds,
            max_sessions=settings.max_sessions,
        )
        for mcp_server in (server, virtual_server)
    )
    leans: list[LeanMcp] = []

    def session_deleted(session_id: str) -> None:
        # The lean path's requests of the session end first, so none opens an upstream session afterwards.
        for lean_path in leans:
            lean_path.session_ended(session_id)
        upstream.close_downstream(session_id)

    tools_endpoint: ASGIApp = _ForgetDeletedSessions(StreamableHTTPASGIApp(manager), sessions, session_deleted)
    virtual_endpoint: ASGIApp = _ForgetDeletedSessions(
        StreamableHTTPASGIApp(virtual_manager), virtual_sessions, session_deleted
    )
    lean: LeanMcp | None = None
    virtual_lean: LeanMcp | None = None
    if settings.lean_path:
        tools_endpoint = lean = LeanMcp(tools_endpoint, manager, server, sessions, security)
        virtual_endpoint = virtual_lean = LeanMcp(
            virtual_endpoint,
            virtual_manager,
            virtual_server,
            virtual_sessions,
            security,
            streams=True,
            lists_quietly=virtual.lists_quietly,
        )
        leans.extend((lean, virtual_lean))
    mcp_endpoint = _ByVirtualServer(tools_endpoint, VirtualServerGate(virtual_endpoint, virtual))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The router's two HTTP clients, one per role, live exactly as long as the app:
        # - catalog_http reads the gateway's tool catalog (X-Gateway-Secret; the gateway is a trusted address);
        # - executor calls the registered tools (aiohttp pools, url tools behind the SSRF guard).
        # trust_env=False: HTTP(S)_PROXY variables must not divert calls to the gateway (nor, in the executor,
        # to in-cluster tools).
        async with (
            httpx.AsyncClient(timeout=settings.catalog_timeout_seconds, trust_env=False) as catalog_http,
            executor,
            # The kept upstream sessions (adapters' MCP sessions) end before the executor's pools close.
            upstream.running(),
        ):
            poller.http = catalog_http
            try:
                async with manager.run(), virtual_manager.run(), anyio.create_task_group() as tasks:
                    # One poll before serving, so the first tools/list is not an empty list by accident.
                    await poller.refresh()
                    tasks.start_soon(_poll_forever, poller, settings.catalog_poll_seconds)
                    try:
                        yield
                    finally:
                        listen.close()
                        tasks.cancel_scope.cancel()
            finally:
                poller.http = None

    app = Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/metrics", telemetry.metrics_endpoint, methods=["GET"]),
            Route(MCP_PATH, endpoint=mcp_endpoint),
        ],
        middleware=[Middleware(RouterTelemetryMiddleware), Middleware(IdentityMiddleware, secret=secret)],
        lifespan=lifespan,
    )
    app.state.catalog = poller
    app.state.executor = executor
    app.state.sessions = sessions
    app.state.virtual_sessions = virtual_sessions
    app.state.upstream = upstream
    app.state.lean = lean
    app.state.virtual_lean = virtual_lean
    return app


def _aggregating_server(
    name: str,
    title: str,
    handlers: VirtualServerHandlers,
    listen: ListenHandler,
    cache_hints: dict[Any, CacheHint],
    *middleware: Any,
) -> RouterServer:
    """An MCP server over members' tools, prompts and resources: a virtual server, or ``/mcp`` aggregating the
    catalog. ``middleware`` runs before the downstream-session one (which keys the kept upstream sessions)."""
    with warnings.catch_warnings():
        # logging/setLevel is deprecated as of 2026-07-28; handshake-era clients still send it, and the
        # members of a virtual server still honour it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server = _server_of(name, title, handlers, listen, cache_hints)
    server.aggregating = True
    server.middleware.extend([*middleware, downstream_session_middleware])
    return server


def _server_of(
    name: str, title: str, handlers: VirtualServerHandlers, listen: ListenHandler, cache_hints: dict[Any, CacheHint]
) -> RouterServer:
    return RouterServer(
        name,
        version=_version(),
        title=title,
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
        get_tool_input_schema=handlers.input_schema,
        on_list_prompts=handlers.list_prompts,
        on_get_prompt=handlers.get_prompt,
        on_list_resources=handlers.list_resources,
        on_read_resource=handlers.read_resource,
        on_list_resource_templates=handlers.list_resource_templates,
        on_subscribe_resource=handlers.subscribe,
        on_unsubscribe_resource=handlers.unsubscribe,
        on_completion=handlers.complete,
        on_set_logging_level=handlers.set_logging_level,
        on_subscriptions_listen=listen,
        cache_hints=cache_hints,
    )


async def _poll_forever(poller: CatalogPoller, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await poller.refresh()


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection on a loopback bind, as the SDK does by default.

    On any other bind (a pod) the Host is the pod or Service name, which is not known here; the
    gateway secret already stops browsers, which cannot add it to a cross-site request.
    """
    if not is_loopback_host(host):
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


class _ByVirtualServer:
    """``/mcp`` for the registered tools, or for a virtual server when the request names one (trusted)."""

    def __init__(self, tools: ASGIApp, virtual_servers: ASGIApp) -> None:
        self._tools = tools
        self._virtual_servers = virtual_servers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._tools if virtual_server_of(scope) is None else self._virtual_servers
        token = request_scope.set(scope)
        try:
            await app(scope, receive, send)
        finally:
            request_scope.reset(token)


class _ForgetDeletedSessions:
    """Drops a session from the notification registry once its DELETE succeeded, and ends the upstream
    sessions it used (``on_deleted``)."""

    def __init__(self, app: ASGIApp, sessions: OpenSessions, on_deleted: Callable[[str], None]) -> None:
        self._app = app
        self._sessions = sessions
        self._on_deleted = on_deleted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "DELETE":
            await self._app(scope, receive, send)
            return
        session_id = Request(scope).headers.get(SESSION_ID_HEADER)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and session_id and 200 <= message["status"] < 300:
                self._sessions.forget(session_id)
                self._on_deleted(session_id)
            await send(message)

        await self._app(scope, receive, watch)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcp-gateway")
    except PackageNotFoundError:
        return "0.0.0"
