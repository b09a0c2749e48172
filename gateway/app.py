"""``create_app(settings)``: the one composition root. The lifespan opens every seam and closes it again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from gateway import __version__
from gateway.auth.factory import build_authenticator
from gateway.auth.metadata import scopes_supported
from gateway.context import GatewayContext
from gateway.control import health, internal, metrics, wellknown
from gateway.control.body_limit import BodyLimitMiddleware
from gateway.control.problems import install_problem_handlers
from gateway.control.resources import resource_router
from gateway.drain import Drain, DrainGuard
from gateway.edge import Edge
from gateway.errors import GatewayError
from gateway.models import AdapterData, AdapterResource, ServerData, ServerResource, ToolData, ToolResource
from gateway.names import RESERVED_NAMES
from gateway.netguard import ConnectGuard
from gateway.portal import portal_router
from gateway.proxy.deps import ProxyDeps
from gateway.proxy.mcp_proxy import McpProxy
from gateway.proxy.routes import McpDispatch
from gateway.proxy.sealed import SessionSealer, sealer_for
from gateway.runtimes.factory import build_runtime, local_router_spec
from gateway.services.catalog import ToolCatalog
from gateway.services.reconcile import Reconciler
from gateway.services.resources import ResourceService
from gateway.services.servers import ServerService
from gateway.services.ssrf import UrlGuard
from gateway.settings import GatewaySettings, SessionSettings, parse_seal_keys, parse_trusted_proxies
from gateway.stores.factory import build_metadata_store, build_session_store
from gateway.telemetry.http import HttpTelemetryMiddleware
from gateway.telemetry.mcp import McpTelemetry
from gateway.telemetry.setup import build_telemetry

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Control plane for MCP servers (adapters), HTTP tools and virtual servers, and a session-aware data plane "
    "at `/adapters/{name}/mcp`, `/mcp` (the tool router) and `/servers/{name}/mcp` (a virtual server, served by "
    "the tool router)."
)


def build_context(settings: GatewaySettings) -> GatewayContext:
    store = build_metadata_store(settings)
    runtime = build_runtime(settings)
    wi_roles = settings.auth.workload_identity_roles
    url_guard = UrlGuard(ConnectGuard.from_settings(settings.proxy, settings.server.environment))
    services: dict[str, ResourceService[Any, Any]] = {}
    reconciler = Reconciler(
        store, runtime, lambda record: services[record.kind].spec_of_record(record), unmanaged=RESERVED_NAMES
    )
    adapters: ResourceService[AdapterData, AdapterResource] = ResourceService(
        "adapter", AdapterResource, store, runtime, reconciler, wi_roles, url_guard
    )
    tools: ResourceService[ToolData, ToolResource] = ResourceService(
        "tool", ToolResource, store, runtime, reconciler, wi_roles, url_guard
    )
    services.update(adapter=adapters, tool=tools)  # the kinds with workloads: the reconciler's specs
    servers = ServerService(store)
    secret = settings.router.secret.get_secret_value() if settings.router.secret else secrets.token_urlsafe(32)
    return GatewayContext(
        settings=settings,
        store=store,
        sessions=build_session_store(settings),
        runtime=runtime,
        authenticator=build_authenticator(settings),
        adapters=adapters,
        tools=tools,
        servers=servers,
        catalog=ToolCatalog(tools, runtime, adapters=adapters, servers=servers),
        router_secret=secret,
        reconciler=reconciler,
    )


def proxy_deps(ctx: GatewayContext) -> ProxyDeps:
    """The data plane's share of the context: no services, only what serving a request reads."""
    return ProxyDeps(
        records=ctx.store,
        sessions=ctx.sessions,
        runtime=ctx.runtime,
        authenticator=ctx.authenticator,
        settings=ctx.settings.proxy,
        public_url=ctx.settings.server.public_url,
        environment=ctx.settings.server.environment,
        scopes_supported=tuple(scopes_supported(ctx.settings.auth)),
        router_secret=ctx.router_secret,
        sealer=_sealer(ctx.settings.sessions),
    )


def _sealer(sessions: SessionSettings) -> SessionSealer | None:
    if not sessions.sealed:
        return None
    keys = parse_seal_keys(sessions.seal_keys.get_secret_value()) if sessions.seal_keys else None
    return sealer_for(keys, sessions.max_lifetime_seconds)


async def _start_workloads(ctx: GatewayContext) -> None:
    """Bring the runtime in line with the store (local processes did not survive the last gateway; a crash
    may have left a Kubernetes operation half done), and start the local tool router."""
    if ctx.settings.runtime.kind == "local" and ctx.settings.router.replicas > 0:
        try:
            await ctx.runtime.ensure(local_router_spec(ctx.settings, ctx.router_secret))
        except GatewayError as exc:
            log.warning("could not start the tool router: %s", exc.detail)
    await ctx.reconciler.reconcile_all()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx: GatewayContext = app.state.ctx
    await ctx.store.open()
    await ctx.sessions.open()
    await ctx.authenticator.start()
    await ctx.runtime.start()
    reconciling: asyncio.Task[None] | None = None
    try:
        await _start_workloads(ctx)
        interval = ctx.settings.runtime.reconcile_interval_seconds
        reconciling = asyncio.create_task(ctx.reconciler.run_periodically(interval), name="reconcile")
        yield
    finally:
        if reconciling is not None:
            reconciling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciling
        await app.state.mcp_proxy.aclose()
        await ctx.runtime.close()
        await ctx.authenticator.close()
        await ctx.sessions.close()
        await ctx.store.close()


class GatewayApp(FastAPI):
    """FastAPI for the control plane, with the MCP data plane dispatched before its middleware stack, and
    the edge (client address, unambiguous headers) in front of both."""

    def build_middleware_stack(self) -> ASGIApp:
        trusted = parse_trusted_proxies(self.state.ctx.settings.server.trusted_proxies)
        edge = Edge(McpDispatch(super().build_middleware_stack(), self.state.mcp_proxy), trusted)
        # Outermost: the shutdown drain (gateway/drain.py) sees every request, whatever answers it.
        return DrainGuard(edge, self.state.drain)


def create_app(settings: GatewaySettings) -> FastAPI:
    app = GatewayApp(title="MCP Gateway", version=__version__, description=DESCRIPTION, lifespan=_lifespan)
    app.state.ctx = build_context(settings)
    app.state.drain = Drain()  # started by gateway.server on SIGTERM
    app.state.telemetry = telemetry = build_telemetry(settings, app.state.ctx.router_secret)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(resource_router("/adapters", "adapter", AdapterData, AdapterResource, "adapters"))
    app.include_router(resource_router("/tools", "tool", ToolData, ToolResource, "tools"))
    app.include_router(
        resource_router(
            "/servers",
            "virtual server",
            ServerData,
            ServerResource,
            "servers",
            workloads=False,
            example_summary="Some tools of an adapter and a registered tool, under names of the server's own",
        )
    )
    app.include_router(internal.router)
    app.include_router(wellknown.router)
    app.include_router(metrics.router)
    if settings.portal.enabled:
        app.include_router(portal_router(settings))  # `/` redirects to it; no API route is under /portal
    mcp_telemetry = McpTelemetry(telemetry.metrics, app.state.ctx.router_secret.encode())
    app.state.mcp_proxy = McpProxy(proxy_deps(app.state.ctx), mcp_telemetry)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.server.max_body_bytes)
    # Outermost, so the request id is set for everything else, including the body limit's 413.
    app.add_middleware(HttpTelemetryMiddleware, metrics=telemetry.metrics)
    return app
