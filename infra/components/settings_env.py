"""The gateway's MCPGW_* settings for each target, split into plain and secret values.

Pure functions over plain or ``pulumi.Output`` values; names follow gateway/settings.py
(prefix ``MCPGW_``, nested ``__``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.components.manifests import PORT, SEAL_KEYS_SETTING

COSMOS_DATABASE = "mcpgateway"
COSMOS_CONTAINERS = {"adapters": "adapters", "tools": "tools", "servers": "servers", "sessions": "sessions"}
"""Setting suffix (``MCPGW_COSMOS__<X>_CONTAINER``) -> container name; the CosmosSettings defaults. The
``sessions`` container stays although sealed ids do not use it: it is what MCPGW_SESSIONS__SEALED=false needs."""


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
        # Sealed session ids (docs/stores.md): every gateway replica routes a session from its id alone, with
        # the keyring of the Secret (MCPGW_SESSIONS__SEAL_KEYS), so no store is read or written for routing: the
        # session store is the in-memory one, and /readyz checks what serves requests (metadata store, runtime).
        # Turning SEALED off with more than one gateway replica needs a shared store too (Azure: KIND=cosmos).
        "MCPGW_SESSIONS__SEALED": "true",
        "MCPGW_SESSIONS__KIND": "memory",
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
    seal_keys: Any,
    appinsights_connection_string: Any,
    trusted_proxies: list[str],
    aggregate_adapters: bool,
) -> SettingsEnv:
    """Production settings: Entra tokens, Cosmos for metadata, sealed session ids, Kubernetes runtime.
    ``seal_keys``: the keyring, ``id:base64[,...]``. ``trusted_proxies``: the Application Gateway's subnet,
    whose X-Forwarded-For names the client."""
    plain = {
        **_common(namespace, registry, bridge_image, aggregate_adapters),
        "MCPGW_SERVER__ENVIRONMENT": "production",
        "MCPGW_SERVER__PUBLIC_URL": public_url,
        "MCPGW_SERVER__TRUSTED_PROXIES": json.dumps(trusted_proxies),
        "MCPGW_AUTH__MODE": "entra",
        "MCPGW_AUTH__TENANT_ID": tenant_id,
        "MCPGW_AUTH__CLIENT_ID": client_id,
        "MCPGW_STORE__KIND": "cosmos",
        "MCPGW_COSMOS__ENDPOINT": cosmos_endpoint,
        "MCPGW_COSMOS__DATABASE": COSMOS_DATABASE,
        # Data-plane RBAC cannot create containers; Pulumi creates them.
        "MCPGW_COSMOS__CREATE_IF_MISSING": "false",
        **{f"MCPGW_COSMOS__{k.upper()}_CONTAINER": v for k, v in COSMOS_CONTAINERS.items()},
    }
    secret: dict[str, Any] = {
        "MCPGW_ROUTER__SECRET": router_secret,
        SEAL_KEYS_SETTING: seal_keys,
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
    seal_keys: Any,
    aggregate_adapters: bool,
) -> SettingsEnv:
    """kind: header (dev) identities, SQLite metadata, sealed session ids; reachable only via port-forward.
    The keyring is the stack's rather than one made at start, so ids outlive a restarted gateway pod."""
    plain = {
        **_common(namespace, registry, bridge_image, aggregate_adapters),
        "MCPGW_SERVER__ENVIRONMENT": "development",
        "MCPGW_AUTH__MODE": "dev",
        # Dev auth refuses a non-loopback bind unless forced; the Service is ClusterIP, so only
        # `kubectl port-forward` reaches it. The gateway logs a loud warning about this.
        "MCPGW_AUTH__FORCE_DEV": "true",
        "MCPGW_STORE__KIND": "sqlite",
    }
    secret = {"MCPGW_ROUTER__SECRET": router_secret, SEAL_KEYS_SETTING: seal_keys}
    return SettingsEnv(plain=plain, secret=secret)
