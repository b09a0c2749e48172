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
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import pulumi

from gateway.settings import SEAL_KEY_ID_RE

PROJECT = "mcp-gateway"
_LABEL_RE = re.compile(r"^[a-z][a-z0-9]{2,19}$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_KEY_VAULT_SECRET_ID_RE = re.compile(r"^https://[a-z0-9-]+\.vault\.[a-z0-9.]+/secrets/[A-Za-z0-9-]+/?$")
"""Versionless: the App Gateway then picks up each renewed version of the certificate by itself."""
_KEY_VAULT_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/]+$", re.IGNORECASE
)
_ZONES = {"1", "2", "3"}


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

    gateway_namespace: str = "mcp-gateway"
    """The gateway; Pod Security ``restricted`` enforced."""
    adapter_namespace: str = "adapter"
    """Adapters, tools and the tool router (MCPGW_RUNTIME__KUBERNETES__NAMESPACE); ``restricted`` enforced
    too, and an egress policy keeps them off the metadata endpoint and the cluster's own networks."""
    gateway_replicas: int = 0
    """0: the target's default (2 on Azure, 1 on kind)."""
    router_replicas: int = 1
    gateway_cpu_limit: str = "1"
    gateway_memory_limit: str = "512Mi"
    adapter_internet_egress: bool = True
    """False: adapters, tools and the router reach only DNS (and the router the gateway and the tools)."""
    adapter_denied_cidrs: list[str] = field(default_factory=list)
    """More destinations adapters may never reach, beside the cluster's networks and the metadata endpoints,
    e.g. the AKS API server's public address (``az aks show --query fqdn``, then resolve it)."""
    aggregate_adapters: bool = True
    """MCPGW_ROUTER__AGGREGATE_ADAPTERS, on the gateway and the tool router: the router's ``/mcp`` also serves
    the tools, prompts and resources of every adapter the caller may read; false: the registered tools only."""
    metrics_namespace: str = "kube-system"
    """Where the in-cluster Prometheus scraper runs (AKS managed Prometheus: ``kube-system``); it may reach
    the router's ``/metrics``. The App Gateway never forwards ``/metrics``."""
    seal_key_ids: list[str] = field(default_factory=lambda: ["k1"])
    """The gateway's keyring for sealed session ids (MCPGW_SESSIONS__SEAL_KEYS, in its Secret), by key id: the
    stack generates one random 32-byte key per id and keeps it until the id leaves this list; the first id
    seals, every one opens. Rotation adds a new id (docs/deploy.md, "Session keys")."""


@dataclass(frozen=True)
class AzureConfig:
    """Azure topology: names derive from ``label`` (3-20 lower-case letters and digits)."""

    label: str
    entra_app: Literal["create", "existing"] = "existing"
    """``existing``: the app registration docs/entra.md walks through, named by ``entraClientId``.
    ``create``: the stack creates it (needs the right to create apps in the tenant, e.g. Application
    Developer) and uses its client id; ``entraClientId`` must then be absent."""
    entra_client_id: str | None = None
    """Client id of the Entra app registration that issues the gateway's tokens (``entraApp: existing``)."""
    entra_app_assignment_required: bool = False
    """``entraApp: create`` only: Entra issues tokens only to users, groups and apps assigned an app role
    (Enterprise applications → Users and groups). Default false, as a portal registration: any user of the
    tenant may sign in and use what they create; roles decide the rest."""
    location: str = "westus3"
    tenant_id: str | None = None
    """Defaults to the tenant Pulumi is logged in to."""
    node_count: int = 2
    node_vm_size: str = "Standard_D2s_v5"
    kubernetes_version: str | None = None
    aks_tier: Literal["Free", "Standard"] = "Free"
    network_policy: Literal["cilium", "azure", "calico"] = "cilium"
    availability_zones: list[str] = field(default_factory=list)
    """e.g. ``["1", "2", "3"]``: nodes, the App Gateway and its public IP spread over them, Cosmos is
    zone-redundant. Empty: no zone placement (regions without zones, cheaper dev stacks)."""
    vnet_cidr: str = "10.0.0.0/16"
    aks_subnet_cidr: str = "10.0.1.0/24"
    appgw_subnet_cidr: str = "10.0.2.0/24"
    endpoints_subnet_cidr: str = "10.0.3.0/24"
    """Private endpoints (only with ``privateEndpoints``)."""
    gateway_internal_ip: str = "10.0.1.100"
    """Static IP of the gateway's internal load balancer: the App Gateway backend."""
    appgw_min_capacity: int = 1
    appgw_max_capacity: int = 2
    tls_certificate: Literal["selfSigned", "keyVault"] = "selfSigned"
    """The HTTPS listener's certificate. ``selfSigned`` (dev): generated for the public host name and kept
    in a Key Vault of the stack; clients must trust it explicitly. ``keyVault``: yours, named by
    ``tlsCertificateSecretId`` in the vault ``tlsKeyVaultId``."""
    tls_certificate_secret_id: str | None = None
    """Versionless secret id of the certificate: ``https://<vault>.vault.azure.net/secrets/<name>``."""
    tls_key_vault_id: str | None = None
    """ARM id of that vault (RBAC authorization): the App Gateway's identity gets Key Vault Secrets User."""
    public_host_name: str | None = None
    """The host clients use (a CNAME to the DNS label) when the certificate is for your own domain;
    default ``mcpgw-<label>.<location>.cloudapp.azure.com``. Sets MCPGW_SERVER__PUBLIC_URL."""
    registry_sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    registry_public_access: bool = True
    """False only once images are pushed from inside the VNet; the nodes pull through the private endpoint."""
    private_endpoints: bool = False
    """Cosmos DB (public access then disabled) and ACR (needs Premium) through private endpoints with
    private DNS zones linked to the VNet."""
    cosmos_serverless: bool = True
    cosmos_max_throughput: int = 1000
    """Provisioned accounts only: autoscale ceiling (RU/s) shared by the database's containers."""
    cosmos_backup: Literal["Periodic", "Continuous7Days", "Continuous30Days"] = "Periodic"
    """``Continuous*``: point-in-time restore over the last 7 or 30 days."""
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
    cluster_cidrs: list[str] = field(default_factory=lambda: ["10.244.0.0/16", "10.96.0.0/16", "172.18.0.0/16"])
    """The cluster's pod, service and node networks, kept out of adapters' reach: kind's defaults and its
    Docker network (``docker network inspect kind``)."""


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
        built = cls(**{known[k]: v for k, v in raw.items()})
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{PROJECT}:{key}: {exc}") from exc
    _check_choices(key, built)
    return built


def _check_choices(key: str, built: Any) -> None:
    """Dataclasses don't check ``Literal`` hints; a misspelt choice must not fall through to a default branch."""
    for name, hint in get_type_hints(type(built)).items():
        if get_origin(hint) is Literal and getattr(built, name) not in get_args(hint):
            raise ConfigError(f"{PROJECT}:{key}.{_camel(name)} must be one of {list(get_args(hint))}")


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
    _check_namespaces(w)
    _check_bool("workloads.aggregateAdapters", w.aggregate_adapters)
    _check_seal_key_ids(w.seal_key_ids)
    _check_cidrs("workloads.adapterDeniedCidrs", w.adapter_denied_cidrs)
    if stack.local is not None:
        _check_cidrs("local.clusterCidrs", stack.local.cluster_cidrs)
    if stack.azure is not None:
        _check_azure(stack.azure)


def _check_namespaces(w: WorkloadsConfig) -> None:
    names = (w.gateway_namespace, w.adapter_namespace, w.metrics_namespace)
    if not all(_NAMESPACE_RE.match(n) for n in names):
        raise ConfigError(f"{PROJECT}:workloads namespaces must be DNS labels, got {list(names)}")
    if w.gateway_namespace == w.adapter_namespace:
        # The adapter namespace's egress policy covers all of its pods, and the gateway's Role all of its
        # Services: shared, the gateway would lose its egress and could rewrite its own Service.
        raise ConfigError(f"{PROJECT}:workloads.gatewayNamespace and adapterNamespace must differ")


def _check_bool(key: str, value: object) -> None:
    # Dataclasses don't check types either, and a quoted "false" is truthy: it would silently mean true.
    if not isinstance(value, bool):
        raise ConfigError(f"{PROJECT}:{key} must be true or false (unquoted), not {value!r}")


def _check_seal_key_ids(ids: object) -> None:
    key = f"{PROJECT}:workloads.sealKeyIds"
    if not isinstance(ids, list) or not ids:
        raise ConfigError(f"{key} must be a non-empty list of key ids, the sealing one first, e.g. [k1]")
    for kid in ids:
        if not isinstance(kid, str) or not SEAL_KEY_ID_RE.fullmatch(kid):
            raise ConfigError(f"{key}: {kid!r} is not a key id (1 to 16 letters, digits, '_' or '-')")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{key} lists an id twice: {ids}")


def _check_cidrs(key: str, cidrs: list[str]) -> None:
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr)
        except ValueError as exc:
            raise ConfigError(f"{PROJECT}:{key}: {cidr!r} is not an IPv4 network ({exc})") from exc
        if network.prefixlen == 0:
            # An ipBlock's `except` must lie strictly inside 0.0.0.0/0; the API server would refuse the policy.
            raise ConfigError(f"{PROJECT}:{key}: not 0.0.0.0/0 (set workloads.adapterInternetEgress: false)")


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
    if a.private_endpoints:
        endpoints = ipaddress.ip_network(a.endpoints_subnet_cidr)
        if not endpoints.subnet_of(vnet) or endpoints.overlaps(aks) or endpoints.overlaps(appgw):  # type: ignore[arg-type]
            raise ConfigError(f"{PROJECT}:azure.endpointsSubnetCidr must lie inside vnetCidr and not overlap")
        if a.registry_sku != "Premium":
            raise ConfigError(f"{PROJECT}:azure.privateEndpoints needs azure.registrySku Premium (ACR private link)")
    if not set(a.availability_zones) <= _ZONES:
        raise ConfigError(f"{PROJECT}:azure.availabilityZones must be among {sorted(_ZONES)}")
    if a.cosmos_max_throughput < 1000:
        raise ConfigError(f"{PROJECT}:azure.cosmosMaxThroughput must be at least 1000 RU/s (autoscale minimum)")
    _check_entra(a)
    _check_tls(a)


def _check_entra(a: AzureConfig) -> None:
    if a.entra_app == "existing":
        if not a.entra_client_id:
            raise ConfigError(
                f"{PROJECT}:azure.entraClientId (the app registration's client id) is required with "
                "azure.entraApp: existing; or set azure.entraApp: create to let the stack create the app"
            )
        if a.entra_app_assignment_required:
            # The stack does not own an existing app's service principal: it could not apply the setting.
            raise ConfigError(f"{PROJECT}:azure.entraAppAssignmentRequired needs azure.entraApp: create")
    elif a.entra_client_id:
        # Two sources for one value: refuse rather than silently ignore the one the operator typed.
        raise ConfigError(
            f"{PROJECT}:azure.entraClientId must be absent with azure.entraApp: create "
            "(the stack uses the client id of the app it creates)"
        )


def _check_tls(a: AzureConfig) -> None:
    own = (a.tls_certificate_secret_id, a.tls_key_vault_id)
    if a.tls_certificate == "selfSigned":
        if any(own):
            raise ConfigError(f"{PROJECT}:azure.tlsCertificateSecretId/tlsKeyVaultId need tlsCertificate: keyVault")
        return
    if not a.tls_certificate_secret_id or not _KEY_VAULT_SECRET_ID_RE.match(a.tls_certificate_secret_id):
        raise ConfigError(
            f"{PROJECT}:azure.tlsCertificateSecretId must be a versionless Key Vault secret id "
            f"(https://<vault>.vault.azure.net/secrets/<name>), got {a.tls_certificate_secret_id!r}"
        )
    if not a.tls_key_vault_id or not _KEY_VAULT_ID_RE.match(a.tls_key_vault_id):
        raise ConfigError(
            f"{PROJECT}:azure.tlsKeyVaultId must be the vault's ARM id "
            f"(/subscriptions/.../providers/Microsoft.KeyVault/vaults/<name>), got {a.tls_key_vault_id!r}"
        )
