"""Composition root: wires the components for the ``azure`` or the ``local`` target."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_azure_native import authorization, resources

from infra.components import manifests
from infra.components.acr_auth import ACR_TOKEN_USER, exchange_refresh_token
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.data import Data, DataArgs
from infra.components.identity import Identity, IdentityArgs
from infra.components.images import Images, ImagesArgs, RegistryCredentials
from infra.components.ingress import Ingress, IngressArgs
from infra.components.network import Network, NetworkArgs
from infra.components.observability import Observability, ObservabilityArgs
from infra.components.registry import Registry, RegistryArgs
from infra.components.settings_env import azure_settings, local_settings
from infra.components.workloads import Workloads, WorkloadsArgs
from infra.config import AzureConfig, LocalConfig, StackConfig


@dataclass
class StackOutputs:
    gateway_url: pulumi.Output[str]
    registry_login_server: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    workloads: Workloads


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


def _router_secret() -> pulumi.Output[str]:
    # Generated (never a placeholder): shared by the gateway and the router through a k8s Secret.
    secret = random.RandomPassword("router-secret", length=48, special=False)
    return secret.result


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
        ),
    )
    identity = Identity(
        "identity",
        IdentityArgs(
            resource_group_name=rg_name,
            location=location,
            prefix=prefix,
            oidc_issuer_url=cluster.oidc_issuer_url,
            namespace=cfg.workloads.namespace,
            gateway_service_account=manifests.GATEWAY_SA,
            workload_service_account=manifests.WORKLOAD_SA,
            cosmos_account_name=data.account_name,
            cosmos_account_id=data.account_id,
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
            min_capacity=az.appgw_min_capacity,
            max_capacity=az.appgw_max_capacity,
        ),
    )
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
            credentials=credentials,
        ),
        opts=pulumi.ResourceOptions(depends_on=[registry]),
    )
    public_url = pulumi.Output.concat("http://", net.fqdn)
    env = azure_settings(
        namespace=cfg.workloads.namespace,
        registry=registry.login_server,
        bridge_image=cfg.images.bridge,
        public_url=public_url,
        tenant_id=az.tenant_id or client.tenant_id,
        client_id=az.entra_client_id,
        cosmos_endpoint=data.endpoint,
        cosmos_key=data.primary_key,
        router_secret=_router_secret(),
        appinsights_connection_string=obs.connection_string,
        trusted_proxies=[az.appgw_subnet_cidr],
    )
    spec = manifests.WorkloadSpec(
        namespace=cfg.workloads.namespace,
        gateway_image=images.gateway,
        router_image=images.router,
        gateway_replicas=cfg.workloads.gateway_replicas,
        router_replicas=cfg.workloads.router_replicas,
        gateway_env=env.plain,
        gateway_secret_env=env.secret,
        gateway_client_id=identity.gateway_client_id,
        workload_client_id=identity.workload_client_id,
        internal_lb_ip=az.gateway_internal_ip,
        gateway_cpu_limit=cfg.workloads.gateway_cpu_limit,
        gateway_memory_limit=cfg.workloads.gateway_memory_limit,
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
    )


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
        ),
    )
    redis_password = random.RandomPassword("redis-password", length=32, special=False).result
    namespace = cfg.workloads.namespace
    env = local_settings(
        namespace=namespace,
        registry=registry,
        bridge_image=cfg.images.bridge,
        router_secret=_router_secret(),
        redis_url=redis_password.apply(lambda p: manifests.redis_url(namespace, p)),
    )
    spec = manifests.WorkloadSpec(
        namespace=namespace,
        gateway_image=images.gateway,
        router_image=images.router,
        gateway_replicas=cfg.workloads.gateway_replicas,
        router_replicas=cfg.workloads.router_replicas,
        gateway_env=env.plain,
        gateway_secret_env=env.secret,
        redis=manifests.RedisSpec(image=local.redis_image),
        redis_password=redis_password,
        gateway_cpu_limit=cfg.workloads.gateway_cpu_limit,
        gateway_memory_limit=cfg.workloads.gateway_memory_limit,
    )
    workloads = Workloads("workloads", WorkloadsArgs(spec=spec, provider=provider))
    ambient = f"(ambient kubeconfig, context {local.kube_context})"
    kubeconfig = pulumi.Output.secret(local.kubeconfig or ambient)
    return StackOutputs(
        # ClusterIP only: reachable through `kubectl port-forward svc/mcpgateway-service 8000:8000`.
        gateway_url=pulumi.Output.from_input(f"http://localhost:{manifests.PORT}"),
        registry_login_server=pulumi.Output.from_input(registry),
        kubeconfig=kubeconfig,
        workloads=workloads,
    )
