"""Built-in Azure role definition ids used by the program (GUIDs are global and stable)."""

from __future__ import annotations

import pulumi

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
"""Reads secret values: the App Gateway fetches its listener certificate (a PFX) as a secret."""
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
"""Cosmos DB Built-in Data Contributor: a data-plane (SQL) role, not an ARM role."""


def role_definition_id(subscription_id: pulumi.Input[str], role_guid: str) -> pulumi.Output[str]:
    """The ARM id of a built-in role, as RoleAssignment expects it."""
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_guid
    )
