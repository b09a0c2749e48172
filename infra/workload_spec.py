"""The workloads' :class:`WorkloadSpec` from the stack configuration and the values only the cloud knows.

Shared by the Pulumi program (infra/stack.py, where the values are ``pulumi.Output``) and the render CLI
(infra/render.py, where they are plain strings from a values file), so ``kubectl apply`` users get the
objects ``pulumi up`` would create, built by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.components import manifests
from infra.components.settings_env import SettingsEnv, azure_settings, local_settings
from infra.config import AzureConfig, LocalConfig, StackConfig, WorkloadsConfig


@dataclass(frozen=True)
class ImageRefs:
    """Full references of the gateway and router images; the bridge image is relative to the registry."""

    gateway: Any
    router: Any
    bridge: Any


@dataclass(frozen=True)
class AzureValues:
    """What exists only once the Azure resources do (plain values or ``pulumi.Output``)."""

    registry: Any
    """The ACR login server."""
    public_url: Any
    tenant_id: Any
    entra_client_id: Any
    cosmos_endpoint: Any
    cosmos_key: Any | None
    """None when Cosmos is reached with workload identity (the account's keys are disabled)."""
    appinsights_connection_string: Any
    gateway_client_id: Any
    workload_client_id: Any
    overlay_cidrs: Sequence[str]
    """AKS's pod and service networks: the cluster's own, kept out of adapters' reach."""


AZURE_VALUE_KEYS = {
    "registryLoginServer": "registry",
    "gatewayUrl": "public_url",
    "tenantId": "tenant_id",
    "entraClientId": "entra_client_id",
    "cosmosEndpoint": "cosmos_endpoint",
    "gatewayClientId": "gateway_client_id",
    "workloadClientId": "workload_client_id",
}
"""Stack output (and values file) key -> :class:`AzureValues` field, for the values that are not secret."""
AZURE_SECRET_KEYS = {"cosmosKey": "cosmos_key", "appInsightsConnectionString": "appinsights_connection_string"}
"""Secret values: never exported by the program; in a values file only if the operator puts them there."""


def exported_values(values: AzureValues) -> dict[str, Any]:
    """The non-secret values as stack outputs, so `pulumi stack output --json` is a values file."""
    return {key: getattr(values, name) for key, name in AZURE_VALUE_KEYS.items()}


def azure_spec(
    cfg: StackConfig, az: AzureConfig, images: ImageRefs, values: AzureValues, router_secret: Any, seal_keys: Any
) -> manifests.WorkloadSpec:
    """``seal_keys``: the keyring of ``cfg.workloads.seal_key_ids``, ``id:base64`` each, in that order."""
    env = azure_settings(
        namespace=cfg.workloads.adapter_namespace,
        registry=values.registry,
        bridge_image=images.bridge,
        public_url=values.public_url,
        tenant_id=values.tenant_id,
        client_id=values.entra_client_id,
        cosmos_endpoint=values.cosmos_endpoint,
        cosmos_key=values.cosmos_key,
        router_secret=router_secret,
        seal_keys=seal_keys,
        appinsights_connection_string=values.appinsights_connection_string,
        trusted_proxies=[az.appgw_subnet_cidr],
        aggregate_adapters=cfg.workloads.aggregate_adapters,
    )
    return manifests.WorkloadSpec(
        **_common_fields(cfg, images, env),
        # The whole VNet: nodes and their kubelets, the internal load balancer, the App Gateway, the
        # private endpoints; the overlay: pods and services (the API server's `kubernetes` Service).
        egress=egress(cfg.workloads, [az.vnet_cidr, *values.overlay_cidrs]),
        gateway_client_id=values.gateway_client_id,
        workload_client_id=values.workload_client_id,
        internal_lb_ip=az.gateway_internal_ip,
    )


def local_spec(
    cfg: StackConfig, local: LocalConfig, images: ImageRefs, router_secret: Any, seal_keys: Any
) -> manifests.WorkloadSpec:
    """``seal_keys``: as for :func:`azure_spec`."""
    env = local_settings(
        namespace=cfg.workloads.adapter_namespace,
        registry=cfg.images.registry or "",
        bridge_image=images.bridge,
        router_secret=router_secret,
        seal_keys=seal_keys,
        aggregate_adapters=cfg.workloads.aggregate_adapters,
    )
    return manifests.WorkloadSpec(
        **_common_fields(cfg, images, env),
        egress=egress(cfg.workloads, local.cluster_cidrs),
    )


def _common_fields(cfg: StackConfig, images: ImageRefs, env: SettingsEnv) -> dict[str, Any]:
    """The WorkloadSpec fields both targets take straight from the stack config, the images and the settings."""
    workloads = cfg.workloads
    return {
        "gateway_namespace": workloads.gateway_namespace,
        "adapter_namespace": workloads.adapter_namespace,
        "metrics_namespace": workloads.metrics_namespace,
        "gateway_image": images.gateway,
        "router_image": images.router,
        "gateway_replicas": workloads.gateway_replicas,
        "router_replicas": workloads.router_replicas,
        "gateway_env": env.plain,
        "gateway_secret_env": env.secret,
        "gateway_cpu_limit": workloads.gateway_cpu_limit,
        "gateway_memory_limit": workloads.gateway_memory_limit,
        "seal_key_ids": tuple(workloads.seal_key_ids),
    }


def egress(workloads: WorkloadsConfig, cluster_cidrs: Sequence[str]) -> manifests.EgressSpec:
    return manifests.EgressSpec(
        cluster_cidrs=tuple(cluster_cidrs),
        internet=workloads.adapter_internet_egress,
        denied_cidrs=tuple(workloads.adapter_denied_cidrs),
    )
