"""User-assigned identities for the gateway and for workloads, their federated credentials, Cosmos access."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_azure_native import cosmosdb, managedidentity

from infra.components.roles import COSMOS_DATA_CONTRIBUTOR

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The ``sub`` claim of a projected service-account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


@dataclass(frozen=True)
class IdentityArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    oidc_issuer_url: pulumi.Input[str]
    gateway_namespace: str
    gateway_service_account: str
    workload_namespace: str
    """The adapter namespace, where pods with ``useWorkloadIdentity`` run."""
    workload_service_account: str
    cosmos_account_name: pulumi.Input[str]
    cosmos_account_id: pulumi.Input[str]


class Identity(pulumi.ComponentResource):
    """Two identities: the gateway's (reads and writes Cosmos) and the workloads' (no roles: the operator
    grants what adapters need)."""

    gateway_client_id: pulumi.Output[str]
    gateway_principal_id: pulumi.Output[str]
    workload_client_id: pulumi.Output[str]

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        gateway = self._identity(name, "gateway", args, args.gateway_namespace, args.gateway_service_account)
        workload = self._identity(name, "workload", args, args.workload_namespace, args.workload_service_account)
        assignment_id = random.RandomUuid(f"{name}-cosmos-assignment-id", opts=child)
        cosmosdb.SqlResourceSqlRoleAssignment(
            f"{name}-gateway-cosmos",
            resource_group_name=args.resource_group_name,
            account_name=args.cosmos_account_name,
            role_assignment_id=assignment_id.result,
            role_definition_id=pulumi.Output.concat(
                args.cosmos_account_id, "/sqlRoleDefinitions/", COSMOS_DATA_CONTRIBUTOR
            ),
            principal_id=gateway.principal_id,
            scope=args.cosmos_account_id,
            opts=child,
        )
        self.gateway_client_id = gateway.client_id
        self.gateway_principal_id = gateway.principal_id
        self.workload_client_id = workload.client_id
        self.register_outputs({"gatewayClientId": gateway.client_id, "workloadClientId": workload.client_id})

    def _identity(
        self, name: str, role: str, args: IdentityArgs, namespace: str, service_account: str
    ) -> managedidentity.UserAssignedIdentity:
        child = pulumi.ResourceOptions(parent=self)
        uami = managedidentity.UserAssignedIdentity(
            f"{name}-{role}",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=f"{args.prefix}-{role}",
            opts=child,
        )
        managedidentity.FederatedIdentityCredential(
            f"{name}-{role}-federation",
            resource_group_name=args.resource_group_name,
            resource_name_=uami.name,
            federated_identity_credential_resource_name=f"{args.prefix}-{role}-sa",
            issuer=args.oidc_issuer_url,
            subject=service_account_subject(namespace, service_account),
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=child,
        )
        return uami
