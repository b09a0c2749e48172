"""Typed stack configuration: the only module that reads ``pulumi.Config``.

Keys live under the project namespace ``mcp-gateway:``. ``target`` picks the topology (``azure`` or
``local``); ``azure``, ``local``, ``images`` and ``workloads`` are structured objects whose unknown keys
are rejected, so a typo fails at the start of ``pulumi up`` instead of silently using a default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

import pulumi

PROJECT = "mcp-gateway"
_LABEL_RE = re.compile(r"^[a-z][a-z0-9]{2,19}$")


class ConfigError(ValueError):
    """A stack configuration value is missing or invalid; the message names the key to set."""


@dataclass(frozen=True)
class ImagesConfig:
    """Where the gateway, tool router and bridge images come from."""

    build: bool = False
    """Build and push the gateway and router images from this checkout (needs a Docker/BuildKit daemon)."""
    tag: str = "0.1.0"
    gateway: str | None = None
    """Full image reference; default ``<registry>/mcp-gateway:<tag>``."""
    router: str | None = None
    """Full image reference; default ``<registry>/mcp-toolrouter:<tag>``."""
    bridge: str = "mcp-proxy:latest"
    """Image under the runtime registry that runs ``command`` adapters (sample-servers/mcp-proxy)."""
    registry: str | None = None
    """Registry for the local stack (kind's local registry); Azure uses the ACR login server."""


@dataclass(frozen=True)
class WorkloadsConfig:
    """Kubernetes workloads shared by both targets."""

    namespace: str = "adapter"
    gateway_replicas: int = 0
    """0: the target's default (2 on Azure, 1 on kind)."""
    router_replicas: int = 1
    gateway_cpu_limit: str = "1"
    gateway_memory_limit: str = "512Mi"


@dataclass(frozen=True)
class AzureConfig:
    """Azure topology: names derive from ``label`` (3-20 lower-case letters and digits)."""

    label: str
    entra_client_id: str
    """Client id of the Entra app registration that issues the gateway's tokens."""
    location: str = "westus3"
    tenant_id: str | None = None
    """Defaults to the tenant Pulumi is logged in to."""
    node_count: int = 2
    node_vm_size: str = "Standard_D2s_v5"
    kubernetes_version: str | None = None
    aks_tier: Literal["Free", "Standard"] = "Free"
    network_policy: Literal["cilium", "azure", "calico"] = "cilium"
    vnet_cidr: str = "10.0.0.0/16"
    aks_subnet_cidr: str = "10.0.1.0/24"
    appgw_subnet_cidr: str = "10.0.2.0/24"
    gateway_internal_ip: str = "10.0.1.100"
    """Static IP of the gateway's internal load balancer: the App Gateway backend."""
    appgw_min_capacity: int = 1
    appgw_max_capacity: int = 2
    registry_sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    cosmos_serverless: bool = True
    cosmos_use_identities: bool = True
    """Workload identity for Cosmos; when true the account's keys are disabled."""
    log_retention_days: int = 30

    @property
    def resource_prefix(self) -> str:
        return f"mcpgw-{self.label}"


@dataclass(frozen=True)
class LocalConfig:
    """The kind stack: an existing cluster reached through a kubeconfig context."""

    kube_context: str = "kind-mcp-gateway"
    kubeconfig: str | None = None
    """Path or content; default: the ambient kubeconfig (``KUBECONFIG`` or ``~/.kube/config``)."""
    redis_image: str = "redis:7.4.2-alpine3.21"


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs; built once by :func:`load_config`."""

    target: Literal["azure", "local"]
    workloads: WorkloadsConfig = field(default_factory=WorkloadsConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    azure: AzureConfig | None = None
    local: LocalConfig | None = None


def load_config() -> StackConfig:
    """Read and validate the stack configuration."""
    cfg = pulumi.Config(PROJECT)
    target = cfg.require("target")
    return parse_config(
        target,
        workloads=cfg.get_object("workloads") or {},
        images=cfg.get_object("images") or {},
        azure=cfg.get_object("azure"),
        local=cfg.get_object("local"),
    )


def parse_config(
    target: str,
    *,
    workloads: Mapping[str, Any],
    images: Mapping[str, Any],
    azure: Mapping[str, Any] | None,
    local: Mapping[str, Any] | None,
) -> StackConfig:
    """Validate raw config objects (camelCase keys, as written in ``Pulumi.<stack>.yaml``)."""
    if target not in ("azure", "local"):
        raise ConfigError(f"{PROJECT}:target must be 'azure' or 'local', not {target!r}")
    wl = _build(WorkloadsConfig, "workloads", workloads)
    if wl.gateway_replicas == 0:
        wl = replace(wl, gateway_replicas=2 if target == "azure" else 1)
    stack = StackConfig(
        target="azure" if target == "azure" else "local",
        workloads=wl,
        images=_build(ImagesConfig, "images", images),
        azure=_build(AzureConfig, "azure", azure) if target == "azure" else None,
        local=_build(LocalConfig, "local", local or {}) if target == "local" else None,
    )
    _check(stack)
    return stack


_T = TypeVar("_T")


def _build(cls: type[_T], key: str, raw: Mapping[str, Any] | None) -> _T:
    if raw is None:
        raise ConfigError(f"{PROJECT}:{key} is required for this target")
    known = {_camel(f.name): f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{PROJECT}:{key} has unknown keys {unknown}; known: {sorted(known)}")
    try:
        return cls(**{known[k]: v for k, v in raw.items()})
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{PROJECT}:{key}: {exc}") from exc


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _check(stack: StackConfig) -> None:
    w = stack.workloads
    if not 1 <= w.gateway_replicas <= 20 or not 1 <= w.router_replicas <= 16:
        raise ConfigError(f"{PROJECT}:workloads replicas out of range (gateway 1-20, router 1-16)")
    if stack.target == "local" and w.gateway_replicas != 1:
        # The local stack keeps metadata in SQLite on the pod's volume: one writer only.
        raise ConfigError(f"{PROJECT}:workloads.gatewayReplicas must be 1 on the local target")
    if stack.target == "local" and not (
        stack.images.registry or (stack.images.gateway and stack.images.router)
    ):
        raise ConfigError(f"{PROJECT}:images.registry (e.g. localhost:5001) is required on the local target")
    if stack.azure is not None:
        _check_azure(stack.azure)


def _check_azure(a: AzureConfig) -> None:
    if not _LABEL_RE.match(a.label):
        raise ConfigError(f"{PROJECT}:azure.label must be 3-20 lower-case letters/digits, got {a.label!r}")
    if a.node_count < 1:
        raise ConfigError(f"{PROJECT}:azure.nodeCount must be at least 1")
    if not 0 <= a.appgw_min_capacity <= a.appgw_max_capacity:
        raise ConfigError(f"{PROJECT}:azure.appgwMinCapacity must be between 0 and appgwMaxCapacity")
    vnet = ipaddress.ip_network(a.vnet_cidr)
    aks = ipaddress.ip_network(a.aks_subnet_cidr)
    appgw = ipaddress.ip_network(a.appgw_subnet_cidr)
    if not (aks.subnet_of(vnet) and appgw.subnet_of(vnet)) or aks.overlaps(appgw):  # type: ignore[arg-type]
        raise ConfigError(f"{PROJECT}:azure subnets must lie inside vnetCidr and not overlap")
    if ipaddress.ip_address(a.gateway_internal_ip) not in aks:
        raise ConfigError(f"{PROJECT}:azure.gatewayInternalIp must be inside aksSubnetCidr {aks}")
