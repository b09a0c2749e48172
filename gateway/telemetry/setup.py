"""Turns ``MCPGW_TELEMETRY__*`` settings into the gateway's telemetry objects (called by ``create_app``)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.settings import GatewaySettings
from gateway.telemetry import redaction
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.tracing import configure_tracing


@dataclass(frozen=True)
class GatewayTelemetry:
    metrics: GatewayMetrics | None
    """None when ``MCPGW_TELEMETRY__METRICS_ENABLED=false``."""


def build_telemetry(settings: GatewaySettings, router_secret: str) -> GatewayTelemetry:
    """Redaction on, secrets registered, trace export configured (or not), a metrics registry."""
    redaction.install()
    redaction.register_secret(router_secret)
    for secret in (settings.cosmos.key, settings.sessions.redis_url):
        if secret is not None:
            redaction.register_secret(secret.get_secret_value())
    configure_tracing(settings.telemetry.service_name, settings.telemetry.otlp_endpoint)
    return GatewayTelemetry(GatewayMetrics() if settings.telemetry.metrics_enabled else None)
