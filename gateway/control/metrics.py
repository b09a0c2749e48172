"""``GET /metrics``: the gateway's Prometheus metrics (not in the OpenAPI document: it is for scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.errors import NotFound
from gateway.telemetry.metrics import GatewayMetrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: GatewayMetrics | None = request.app.state.telemetry.metrics
    if registry is None:
        raise NotFound("Metrics are turned off (MCPGW_TELEMETRY__METRICS_ENABLED=false).")
    # Read at scrape time: the store answers only when counting is cheap (memory, redis), else None. Sealed
    # session ids are in the clients' hands, not counted anywhere (NaN: unknown).
    ctx = request.app.state.ctx
    sessions = None if ctx.settings.sessions.sealed else await ctx.sessions.count()
    registry.active_sessions.set(float("nan") if sessions is None else sessions)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
