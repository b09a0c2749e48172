"""Azure Container Registry (no admin user) and AcrPull for the cluster's kubelet identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, containerregistry

from infra.components.roles import ACR_PULL, ACR_PUSH, role_definition_id


@dataclass(frozen=True)
class RegistryArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    registry_name: str
    """Globally unique, 5-50 alphanumerics."""
    sku: str
    subscription_id: pulumi.Input[str]
    kubelet_object_id: pulumi.Input[str]
    pusher_object_id: pulumi.Input[str] | None = None
    """Principal that runs ``pulumi up`` and pushes images (AcrPush); None: granted elsewhere."""
    public_network_access: bool = True
    """False: reachable only through its private endpoint (pushes too)."""


class Registry(pulumi.ComponentResource):
    """Images for the gateway, the tool router and adapters; pulled by the nodes with their identity."""

    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        acr = containerregistry.Registry(
            f"{name}-acr",
            resource_group_name=args.resource_group_name,
            location=args.location,
            registry_name=args.registry_name,
            sku=containerregistry.SkuArgs(name=args.sku),
            # Identities only: no shared admin password, no anonymous pulls.
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=(
                containerregistry.PublicNetworkAccess.ENABLED
                if args.public_network_access
                else containerregistry.PublicNetworkAccess.DISABLED
            ),
            opts=child,
        )
        authorization.RoleAssignment(
            f"{name}-kubelet-acrpull",
            principal_id=args.kubelet_object_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition_id(args.subscription_id, ACR_PULL),
            scope=acr.id,
            opts=child,
        )
        self.push_role: authorization.RoleAssignment | None = None
        if args.pusher_object_id is not None:
            self.push_role = authorization.RoleAssignment(
                f"{name}-deployer-acrpush",
                principal_id=args.pusher_object_id,
                role_definition_id=role_definition_id(args.subscription_id, ACR_PUSH),
                scope=acr.id,
                opts=child,
            )
        self.login_server = acr.login_server
        self.registry_id = acr.id
        self.register_outputs({"loginServer": acr.login_server})
