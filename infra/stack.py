"""Composition root: wires the components for the ``azure`` or the ``local`` target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_azure_native import authorization, resources

from gateway.settings import SEAL_KEY_BYTES
from infra.components import manifests
from infra.components.acr_auth import ACR_TOKEN_USER, exchange_refresh_token
from infra.components.certificate import Certificate, CertificateArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.data import Data, DataArgs
from infra.components.entra_app import EntraApp, EntraAppArgs
from infra.components.identity import Identity, IdentityArgs
from infra.components.images import Images, ImagesArgs, RegistryCredentials
from infra.components.ingress import Ingress, IngressArgs
from infra.components.network import Network, NetworkArgs
from infra.components.observability import Observability, ObservabilityArgs
from infra.components.private_link import PrivateLink, PrivateLinkArgs, cosmos_target, registry_target
from infra.components.registry import Registry, RegistryArgs
from infra.components.workloads import Workloads, WorkloadsArgs
from infra.config import AzureConfig, LocalConfig, StackConfig
from infra.workload_spec import AzureValues, ImageRefs, azure_spec, exported_values, local_spec


@dataclass
class StackOutputs:
    gateway_url: pulumi.Output[str]
    registry_login_server: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    workloads: Workloads
    render_values: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Exported too, so `pulumi stack output --json` is a values file for `python -m infra.render`."""
    entra_app: dict[str, pulumi.Input[Any]] = field(default_factory=dict)
    """``azure.entraApp: create``: the created app's scope and roles, to paste into clients."""


def build(cfg: StackConfig) -> StackOutputs:
    """Create every resource of the stack."""
    if cfg.azure is not None:
        return _build_azure(cfg, cfg.azure)
    if cfg.local is not None:
        return _build_local(cfg, cfg.local)
    raise ValueError("stack config has neither an azure nor a local section")


def export(outputs: StackOutputs) -> None:
    pulumi.export("gatewayUrl", outputs.gateway_url)
    pulumi.export("registryLoginServer", outputs.registry_login_server)
    pulumi.export("kubeconfig", pulumi.Output.secret(outputs.kubeconfig))
    for key, value in outputs.render_values.items():
        pulumi.export(key, value)
    for key, value in outputs.entra_app.items():
        pulumi.export(key, value)


def _router_secret() -> pulumi.Output[str]:
    # Generated (never a placeholder): shared by the gateway and the router through a k8s Secret.
    secret = random.RandomPassword("router-secret", length=48, special=False)
    return secret.result


def _seal_keys(key_ids: Sequence[str]) -> pulumi.Output[str]:
    """The gateway's keyring for sealed session ids (MCPGW_SESSIONS__SEAL_KEYS): one random 32-byte key per
    id, named after it, so a key lives exactly as long as its id stays in ``workloads.sealKeyIds``."""
    keys = [random.RandomBytes(f"seal-key-{kid}", length=SEAL_KEY_BYTES).base64 for kid in key_ids]
    keyring = pulumi.Output.all(*keys).apply(
        lambda encoded: ",".join(f"{kid}:{key}" for kid, key in zip(key_ids, encoded, strict=True))
    )
    return pulumi.Output.secret(keyring)


def _build_azure(cfg: StackConfig, az: AzureConfig) -> StackOutputs:
    client = authorization.get_client_config_output()
    prefix = az.resource_prefix
    rg = resources.ResourceGroup("rg", resource_group_name=f"{prefix}-rg", location=az.location)
    rg_name, location = rg.name, az.location
    net = Network(
        "network",
        NetworkArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            dns_label=f"mcpgw-{az.label}",
            vnet_cidr=az.vnet_cidr,
            aks_subnet_cidr=az.aks_subnet_cidr,
            appgw_subnet_cidr=az.appgw_subnet_cidr,
            endpoints_subnet_cidr=az.endpoints_subnet_cidr if az.private_endpoints else None,
            zones=az.availability_zones,
        ),
    )
    obs = Observability(
        "observability",
        ObservabilityArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            retention_days=az.log_retention_days,
        ),
    )
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            subscription_id=client.subscription_id,
            subnet_id=net.aks_subnet_id,
            node_count=az.node_count,
            node_vm_size=az.node_vm_size,
            network_policy=az.network_policy,
            tier=az.aks_tier,
            kubernetes_version=az.kubernetes_version,
            availability_zones=az.availability_zones,
        ),
    )
    registry = Registry(
        "registry",
        RegistryArgs(
            resource_group_name=rg_name,
            location=location,
            registry_name=f"mcpgw{az.label}",
            sku=az.registry_sku,
            subscription_id=client.subscription_id,
            kubelet_object_id=cluster.kubelet_object_id,
            pusher_object_id=client.object_id if cfg.images.build else None,
            public_network_access=az.registry_public_access,
        ),
    )
    data = Data(
        "data",
        DataArgs(
            resource_group_name=rg_name,
            location=location,
            account_name=f"{prefix}-cosmos",
            use_identities=az.cosmos_use_identities,
            serverless=az.cosmos_serverless,
            max_throughput=az.cosmos_max_throughput,
            backup=az.cosmos_backup,
            zone_redundant=bool(az.availability_zones),
            public_network_access=not az.private_endpoints,
        ),
    )
    if net.endpoints_subnet_id is not None:
        PrivateLink(
            "private-link",
            PrivateLinkArgs(
                resource_group_name=rg_name,
                location=location,
                prefix=prefix,
                vnet_id=net.vnet_id,
                subnet_id=net.endpoints_subnet_id,
                targets=[cosmos_target(data.account_id), registry_target(registry.registry_id)],
            ),
        )
    identity = Identity(
        "identity",
        IdentityArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            oidc_issuer_url=cluster.oidc_issuer_url,
            gateway_namespace=cfg.workloads.gateway_namespace,
            gateway_service_account=manifests.GATEWAY_SA,
            workload_namespace=cfg.workloads.adapter_namespace,
            workload_service_account=manifests.WORKLOAD_SA,
            cosmos_account_name=data.account_name,
            cosmos_account_id=data.account_id,
        ),
    )
    public_url = _edge(az, rg_name, client, net)
    credentials = None
    if cfg.images.build:
        token = authorization.get_client_token_output()
        credentials = RegistryCredentials(
            username=ACR_TOKEN_USER,
            password=pulumi.Output.secret(
                pulumi.Output.all(registry.login_server, client.tenant_id, token.token).apply(
                    lambda a: exchange_refresh_token(a[0], a[1], a[2])
                )
            ),
        )
    images = Images(
        "images",
        ImagesArgs(
            registry=registry.login_server,
            tag=cfg.images.tag,
            build=cfg.images.build,
            gateway_ref=cfg.images.gateway,
            router_ref=cfg.images.router,
            bridge=cfg.images.bridge,
            credentials=credentials,
        ),
        opts=pulumi.ResourceOptions(depends_on=[registry]),
    )
    entra_client_id, entra_outputs = _entra_app(az)
    values = AzureValues(
        registry=registry.login_server,
        public_url=public_url,
        tenant_id=az.tenant_id or client.tenant_id,
        entra_client_id=entra_client_id,
        cosmos_endpoint=data.endpoint,
        cosmos_key=data.primary_key,
        appinsights_connection_string=obs.connection_string,
        gateway_client_id=identity.gateway_client_id,
        workload_client_id=identity.workload_client_id,
        overlay_cidrs=cluster.overlay_cidrs,
    )
    image_refs = ImageRefs(gateway=images.gateway, router=images.router, bridge=images.bridge)
    spec = azure_spec(
        cfg, az, image_refs, values, router_secret=_router_secret(), seal_keys=_seal_keys(cfg.workloads.seal_key_ids)
    )
    # The federated credentials must exist before pods ask for tokens.
    workloads = Workloads(
        "workloads",
        WorkloadsArgs(spec=spec, provider=cluster.provider),
        opts=pulumi.ResourceOptions(depends_on=[identity, data]),
    )
    return StackOutputs(
        gateway_url=public_url,
        registry_login_server=registry.login_server,
        kubeconfig=cluster.kubeconfig,
        workloads=workloads,
        render_values=exported_values(values),
        entra_app=entra_outputs,
    )


def _entra_app(az: AzureConfig) -> tuple[pulumi.Input[str], dict[str, pulumi.Input[Any]]]:
    """The client id the gateway accepts tokens for, and (when the stack creates the app) its outputs."""
    if az.entra_app == "existing":
        # infra/config.py refuses `existing` without entraClientId.
        return az.entra_client_id or "", {}
    app = EntraApp(
        "entra",
        EntraAppArgs(prefix=az.resource_prefix, assignment_required=az.entra_app_assignment_required),
    )
    return app.client_id, {"entraScope": app.scope, "entraAppRoles": app.app_roles}


def _edge(
    az: AzureConfig,
    rg_name: pulumi.Output[str],
    client: pulumi.Output[authorization.GetClientConfigResult],
    net: Network,
) -> pulumi.Output[str]:
    """The HTTPS entry: the listener certificate and the Application Gateway. Returns the public URL."""
    prefix, location = az.resource_prefix, az.location
    public_host = pulumi.Output.from_input(az.public_host_name) if az.public_host_name else net.fqdn
    certificate = Certificate(
        "certificate",
        CertificateArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            label=az.label,
            subscription_id=client.subscription_id,
            tenant_id=client.tenant_id,
            host_name=public_host,
            secret_id=az.tls_certificate_secret_id,
            key_vault_id=az.tls_key_vault_id,
        ),
    )
    Ingress(
        "ingress",
        IngressArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            subscription_id=client.subscription_id,
            subnet_id=net.appgw_subnet_id,
            public_ip_id=net.public_ip_id,
            backend_ip=az.gateway_internal_ip,
            certificate_secret_id=certificate.secret_id,
            identity_id=certificate.identity_id,
            min_capacity=az.appgw_min_capacity,
            max_capacity=az.appgw_max_capacity,
            zones=az.availability_zones,
        ),
        # The App Gateway reads the certificate when it is created: its identity's grant must exist first.
        opts=pulumi.ResourceOptions(depends_on=[certificate]),
    )
    return pulumi.Output.concat("https://", public_host)


def _build_local(cfg: StackConfig, local: LocalConfig) -> StackOutputs:
    registry = cfg.images.registry or ""
    provider = k8s.Provider("kind", context=local.kube_context, kubeconfig=local.kubeconfig)
    images = Images(
        "images",
        ImagesArgs(
            registry=registry,
            tag=cfg.images.tag,
            build=cfg.images.build,
            gateway_ref=cfg.images.gateway,
            router_ref=cfg.images.router,
            bridge=cfg.images.bridge,
            # kind's nodes run on the machine that builds; `docker build` without --platform, as docs/deploy.md.
            platform=None,
        ),
    )
    spec = local_spec(
        cfg,
        local,
        ImageRefs(gateway=images.gateway, router=images.router, bridge=images.bridge),
        router_secret=_router_secret(),
        seal_keys=_seal_keys(cfg.workloads.seal_key_ids),
    )
    workloads = Workloads("workloads", WorkloadsArgs(spec=spec, provider=provider))
    ambient = f"(ambient kubeconfig, context {local.kube_context})"
    kubeconfig = pulumi.Output.secret(local.kubeconfig or ambient)
    return StackOutputs(
        # ClusterIP only: `kubectl -n <gatewayNamespace> port-forward svc/mcpgateway-service 8000:8000`.
        gateway_url=pulumi.Output.from_input(f"http://localhost:{manifests.PORT}"),
        registry_login_server=pulumi.Output.from_input(registry),
        kubeconfig=kubeconfig,
        workloads=workloads,
    )
