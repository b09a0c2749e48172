"""Builds the runtime that settings select, and the tool router workload for the local runtime.

The Kubernetes runtime is an extra (``mcp-gateway[kubernetes]``), imported only when selected.
"""

from __future__ import annotations

import json
import sys

from gateway.errors import MissingExtra
from gateway.names import ROUTER_WORKLOAD
from gateway.netguard import ConnectGuard
from gateway.runtimes.base import Runtime, WorkloadKind, WorkloadSpec
from gateway.settings import GatewaySettings


def build_runtime(settings: GatewaySettings) -> Runtime:
    # url adapters are probed through the same SSRF guard as the data plane's requests to them.
    url_guard = ConnectGuard.from_settings(settings.proxy, settings.server.environment)
    if settings.runtime.kind == "local":
        from gateway.runtimes.local.runtime import LocalRuntime

        return LocalRuntime(settings.runtime.local, url_guard)
    try:
        from gateway.runtimes.kubernetes.runtime import KubernetesRuntime
    except ImportError as exc:
        if not MissingExtra.explains(exc, ("kubernetes",)):
            raise
        raise MissingExtra(f"MCPGW_RUNTIME__KIND={settings.runtime.kind}", "kubernetes") from exc

    return KubernetesRuntime(settings.runtime.kubernetes, url_guard=url_guard)


def local_router_spec(settings: GatewaySettings, secret: str) -> WorkloadSpec:
    """The tool router processes a local gateway starts for itself (``python -m toolrouter``)."""
    port = settings.server.port
    url_policy = settings.proxy.url_policy(settings.server.environment)
    return WorkloadSpec(
        name=ROUTER_WORKLOAD,
        kind=WorkloadKind.ROUTER,
        replicas=settings.router.replicas,
        command=sys.executable,
        args=("-m", "toolrouter"),
        transport="streamable-http",
        env={
            "MCPGW_ROUTER__SECRET": secret,
            "MCPGW_ROUTER__CATALOG_URL": f"http://127.0.0.1:{port}/internal/tool-catalog",
            "MCPGW_ROUTER__CALL_TIMEOUT_SECONDS": str(settings.router.call_timeout_seconds),
            "MCPGW_ROUTER__ACCESS_LOG": str(settings.router.access_log).lower(),
            "MCPGW_ROUTER__AGGREGATE_ADAPTERS": str(settings.router.aggregate_adapters).lower(),
            "MCPGW_ROUTER__LEAN_PATH": str(settings.router.lean_path).lower(),
            "MCPGW_SERVER__ENVIRONMENT": settings.server.environment,
            # Router processes do not inherit the gateway's MCPGW_* variables: pass telemetry on explicitly.
            "MCPGW_TELEMETRY__LOG_FORMAT": settings.telemetry.log_format,
            "MCPGW_TELEMETRY__METRICS_ENABLED": str(settings.telemetry.metrics_enabled).lower(),
            "MCPGW_ROUTER__AUDIT_ARGUMENTS": str(settings.telemetry.audit_log_arguments).lower(),
            # The same SSRF policy for url tools as for url adapters (resolved here, so both agree).
            "MCPGW_ROUTER__ALLOW_LOOPBACK_URLS": str(url_policy.allow_loopback).lower(),
            "MCPGW_ROUTER__ALLOW_PRIVATE_URLS": str(url_policy.allow_private).lower(),
            "MCPGW_ROUTER__DNS_SERVERS": json.dumps(settings.proxy.dns_servers),
            **({"MCPGW_TELEMETRY__OTLP_ENDPOINT": otlp} if (otlp := settings.telemetry.otlp_endpoint) else {}),
        },
    )
