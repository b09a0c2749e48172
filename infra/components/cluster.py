"""AKS with OIDC issuer, workload identity and enforced network policies; kubeconfig and k8s provider."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice

from infra.components.roles import NETWORK_CONTRIBUTOR, role_definition_id


@dataclass(frozen=True)
class ClusterArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    subscription_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    node_count: int
    node_vm_size: str
    network_policy: str
    tier: str = "Free"
    kubernetes_version: str | None = None
    availability_zones: Sequence[str] = field(default_factory=list)
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    dns_service_ip: str = "10.96.0.10"


class Cluster(pulumi.ComponentResource):
    """The AKS cluster; ``provider`` deploys Kubernetes objects into it."""

    oidc_issuer_url: pulumi.Output[str]
    kubelet_object_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    overlay_cidrs: list[str]
    """The pod and service networks (Azure CNI overlay): in no subnet of the VNet, yet the cluster's own."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cs = containerservice
        cilium = args.network_policy == "cilium"
        cluster = cs.ManagedCluster(
            f"{name}-aks",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=f"{args.prefix}-aks",
            dns_prefix=f"{args.prefix}-aks",
            kubernetes_version=args.kubernetes_version,
            identity=cs.ManagedClusterIdentityArgs(type=cs.ResourceIdentityType.SYSTEM_ASSIGNED),
            sku=cs.ManagedClusterSKUArgs(name=cs.ManagedClusterSKUName.BASE, tier=args.tier),
            enable_rbac=True,
            agent_pool_profiles=[
                cs.ManagedClusterAgentPoolProfileArgs(
                    name="system",
                    mode=cs.AgentPoolMode.SYSTEM,
                    count=args.node_count,
                    vm_size=args.node_vm_size,
                    os_type=cs.OSType.LINUX,
                    vnet_subnet_id=args.subnet_id,
                    type=cs.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                    availability_zones=list(args.availability_zones) or None,
                )
            ],
            network_profile=cs.ContainerServiceNetworkProfileArgs(
                network_plugin=cs.NetworkPlugin.AZURE,
                network_plugin_mode=cs.NetworkPluginMode.OVERLAY,
                # Without a policy engine the NetworkPolicies below are silently ignored (the original's bug).
                network_policy=args.network_policy,
                network_dataplane=cs.NetworkDataplane.CILIUM if cilium else cs.NetworkDataplane.AZURE,
                pod_cidr=args.pod_cidr,
                service_cidr=args.service_cidr,
                dns_service_ip=args.dns_service_ip,
                load_balancer_sku=cs.LoadBalancerSku.STANDARD,
            ),
            oidc_issuer_profile=cs.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=cs.ManagedClusterSecurityProfileArgs(
                workload_identity=cs.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            opts=child,
        )
        # The cluster identity creates the gateway's internal load balancer in our (custom) subnet.
        authorization.RoleAssignment(
            f"{name}-subnet-network-contributor",
            principal_id=cluster.identity.apply(lambda i: i.principal_id if i else ""),
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition_id(args.subscription_id, NETWORK_CONTRIBUTOR),
            scope=args.subnet_id,
            opts=child,
        )
        creds = cs.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name, resource_name=cluster.name
        )
        self.kubeconfig = pulumi.Output.secret(
            creds.kubeconfigs.apply(lambda kcs: base64.b64decode(kcs[0].value).decode())
        )
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(
            lambda p: p.issuer_url if p and p.issuer_url else ""
        )
        self.kubelet_object_id = cluster.identity_profile.apply(_kubelet_object_id)
        self.cluster_name = cluster.name
        self.overlay_cidrs = [args.pod_cidr, args.service_cidr]
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Credential rotation then updates the provider instead of replacing every object under it.
            cluster_identifier=cluster.id,
            opts=child,
        )
        self.register_outputs({"clusterName": cluster.name, "oidcIssuerUrl": self.oidc_issuer_url})


def _kubelet_object_id(profile: Mapping[str, Any] | None) -> str:
    identity = (profile or {}).get("kubeletidentity")
    return identity.object_id if identity is not None and identity.object_id else ""
