"""The gateway's MCPGW_* settings for each target, split into plain and secret values.

Pure functions over plain or ``pulumi.Output`` values; names follow gateway/settings.py
(prefix ``MCPGW_``, nested ``__``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.components.manifests import PORT

COSMOS_DATABASE = "mcpgateway"
COSMOS_CONTAINERS = {"adapters": "adapters", "tools": "tools", "servers": "servers", "sessions": "sessions"}
"""Setting suffix (``MCPGW_COSMOS__<X>_CONTAINER``) -> container name; the CosmosSettings defaults."""


@dataclass(frozen=True)
class SettingsEnv:
    """``plain`` goes to a ConfigMap, ``secret`` to a Secret; both are loaded with envFrom."""

    plain: dict[str, Any]
    secret: dict[str, Any]


def _common(namespace: str, registry: Any, bridge_image: Any, aggregate_adapters: bool) -> dict[str, Any]:
    return {
        "MCPGW_SERVER__HOST": "0.0.0.0",
        "MCPGW_SERVER__PORT": str(PORT),
        "MCPGW_SERVER__DATA_DIR": "/data",
        "MCPGW_RUNTIME__KIND": "kubernetes",
        "MCPGW_RUNTIME__KUBERNETES__IN_CLUSTER": "true",
        "MCPGW_RUNTIME__KUBERNETES__NAMESPACE": namespace,
        "MCPGW_RUNTIME__KUBERNETES__REGISTRY": registry,
        "MCPGW_RUNTIME__KUBERNETES__BRIDGE_IMAGE": bridge_image,
        # One JSON object per line, with tokens and secrets redacted: what log pipelines ingest.
        "MCPGW_TELEMETRY__LOG_FORMAT": "json",
        # Always set, so the rendered objects say which /mcp the router serves; the router gets it too
        # (manifests.ROUTER_SHARED_SETTINGS).
        "MCPGW_ROUTER__AGGREGATE_ADAPTERS": "true" if aggregate_adapters else "false",
    }


def azure_settings(
    *,
    namespace: str,
    registry: Any,
    bridge_image: Any,
    public_url: Any,
    tenant_id: Any,
    client_id: Any,
    cosmos_endpoint: Any,
    cosmos_key: Any | None,
    router_secret: Any,
    appinsights_connection_string: Any,
    trusted_proxies: list[str],
    aggregate_adapters: bool,
) -> SettingsEnv:
    """Production settings: Entra tokens, Cosmos for metadata and sessions, Kubernetes runtime.
    ``trusted_proxies``: the Application Gateway's subnet, whose X-Forwarded-For names the client."""
    plain = {
        **_common(namespace, registry, bridge_image, aggregate_adapters),
        "MCPGW_SERVER__ENVIRONMENT": "production",
        "MCPGW_SERVER__PUBLIC_URL": public_url,
        "MCPGW_SERVER__TRUSTED_PROXIES": json.dumps(trusted_proxies),
        "MCPGW_AUTH__MODE": "entra",
        "MCPGW_AUTH__TENANT_ID": tenant_id,
        "MCPGW_AUTH__CLIENT_ID": client_id,
        "MCPGW_STORE__KIND": "cosmos",
        "MCPGW_SESSIONS__KIND": "cosmos",
        "MCPGW_COSMOS__ENDPOINT": cosmos_endpoint,
        "MCPGW_COSMOS__DATABASE": COSMOS_DATABASE,
        # Data-plane RBAC cannot create containers; Pulumi creates them.
        "MCPGW_COSMOS__CREATE_IF_MISSING": "false",
        **{f"MCPGW_COSMOS__{k.upper()}_CONTAINER": v for k, v in COSMOS_CONTAINERS.items()},
    }
    secret: dict[str, Any] = {
        "MCPGW_ROUTER__SECRET": router_secret,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights_connection_string,
    }
    if cosmos_key is not None:
        secret["MCPGW_COSMOS__KEY"] = cosmos_key
    return SettingsEnv(plain=plain, secret=secret)


def local_settings(
    *,
    namespace: str,
    registry: str,
    bridge_image: Any,
    router_secret: Any,
    redis_url: Any,
    aggregate_adapters: bool,
) -> SettingsEnv:
    """kind: header (dev) identities, SQLite metadata, Redis sessions; reachable only via port-forward."""
    plain = {
        **_common(namespace, registry, bridge_image, aggregate_adapters),
        "MCPGW_SERVER__ENVIRONMENT": "development",
        "MCPGW_AUTH__MODE": "dev",
        # Dev auth refuses a non-loopback bind unless forced; the Service is ClusterIP, so only
        # `kubectl port-forward` reaches it. The gateway logs a loud warning about this.
        "MCPGW_AUTH__FORCE_DEV": "true",
        "MCPGW_STORE__KIND": "sqlite",
        "MCPGW_SESSIONS__KIND": "redis",
    }
    secret = {"MCPGW_ROUTER__SECRET": router_secret, "MCPGW_SESSIONS__REDIS_URL": redis_url}
    return SettingsEnv(plain=plain, secret=secret)
