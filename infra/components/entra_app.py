"""The gateway's Entra app registration as code (``azure.entraApp: create``): what docs/entra.md clicks through.

One resource per portal step, so no two resources manage the same property: the registration (single
tenant, v2 access tokens), its Application ID URI ``api://<client id>`` (known only once the app exists,
hence a resource of its own), the ``access`` scope, the app roles, VS Code and the Azure CLI as
pre-authorized clients, and the service principal without which Entra issues no token for the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread

SCOPE = "access"
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
VSCODE_CLIENT_ID = "aebc6443-996d-45c2-90f0-388ff96faa56"
PRE_AUTHORIZED_CLIENTS = {"azure-cli": AZURE_CLI_CLIENT_ID, "vscode": VSCODE_CLIENT_ID}
"""Public clients that get tokens for ``access`` without a consent prompt (docs/entra.md, step 3)."""
ALLOWED_MEMBER_TYPES = ["User", "Application"]
"""Users and groups, and daemons calling the gateway with their own identity."""
_ID_NAMESPACE = uuid.UUID("5d5ee541-0fe0-4bbf-b4a3-61766617f51d")


@dataclass(frozen=True)
class AppRole:
    value: str
    display_name: str
    description: str


APP_ROLES = (
    AppRole("mcp.admin", "MCP Gateway admin", "Reads and writes every adapter and tool; may set useWorkloadIdentity."),
    AppRole("mcp.engineer", "MCP Gateway engineer", "Reads adapters and tools whose requiredRoles name mcp.engineer."),
)
"""docs/entra.md, step 4: ``mcp.admin`` always; more read roles can be added in the portal or here."""


def stable_id(prefix: str, kind: str, value: str) -> str:
    """A scope or role id that never changes between ``pulumi up`` runs: users' role assignments and
    clients' grants name these ids, and a new id would replace the role or scope and orphan them."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{prefix}/{kind}/{value}"))


@dataclass(frozen=True)
class EntraAppArgs:
    prefix: str
    """The stack's resource prefix (``mcpgw-<label>``): names the app and seeds its scope and role ids."""
    assignment_required: bool = False


class EntraApp(pulumi.ComponentResource):
    """The API the gateway accepts tokens for."""

    client_id: pulumi.Output[str]
    identifier_uri: pulumi.Output[str]
    scope: pulumi.Output[str]
    """``api://<client id>/access``: what VS Code and ``az account get-access-token --scope`` ask for."""
    app_roles: list[str]

    def __init__(self, name: str, args: EntraAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:EntraApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = azuread.ApplicationRegistration(
            f"{name}-registration",
            display_name=f"MCP Gateway ({args.prefix})",
            sign_in_audience="AzureADMyOrg",
            # The gateway's advertised issuer is the v2.0 one (gateway/auth/metadata.py).
            requested_access_token_version=2,
            opts=child,
        )
        self.identifier_uri = pulumi.Output.concat("api://", app.client_id)
        azuread.ApplicationIdentifierUri(
            f"{name}-identifier-uri", application_id=app.id, identifier_uri=self.identifier_uri, opts=child
        )
        scope = self._scope(name, app, args.prefix, child)
        self._pre_authorize(name, app, scope, args.prefix, child)
        self._roles(name, app, args.prefix, child)
        azuread.ServicePrincipal(
            f"{name}-service-principal",
            client_id=app.client_id,
            app_role_assignment_required=args.assignment_required,
            opts=child,
        )
        self.client_id = app.client_id
        self.scope = pulumi.Output.concat(self.identifier_uri, "/", SCOPE)
        self.app_roles = [role.value for role in APP_ROLES]
        self.register_outputs({"clientId": self.client_id, "scope": self.scope})

    @staticmethod
    def _scope(
        name: str, app: azuread.ApplicationRegistration, prefix: str, opts: pulumi.ResourceOptions
    ) -> azuread.ApplicationPermissionScope:
        return azuread.ApplicationPermissionScope(
            f"{name}-scope-{SCOPE}",
            application_id=app.id,
            scope_id=stable_id(prefix, "scope", SCOPE),
            value=SCOPE,
            type="User",  # admins and users may consent
            admin_consent_display_name="Access MCP Gateway",
            admin_consent_description="Lets the application call the MCP Gateway as the signed-in user.",
            user_consent_display_name="Use the MCP Gateway",
            user_consent_description="Lets the application call the MCP Gateway on your behalf.",
            opts=opts,
        )

    @staticmethod
    def _pre_authorize(
        name: str,
        app: azuread.ApplicationRegistration,
        scope: azuread.ApplicationPermissionScope,
        prefix: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        # The permission id is a plain string: only depends_on orders the grant after its scope exists.
        after_scope = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[scope]))
        for client, client_id in PRE_AUTHORIZED_CLIENTS.items():
            azuread.ApplicationPreAuthorized(
                f"{name}-preauthorized-{client}",
                application_id=app.id,
                authorized_client_id=client_id,
                permission_ids=[stable_id(prefix, "scope", SCOPE)],
                opts=after_scope,
            )

    @staticmethod
    def _roles(name: str, app: azuread.ApplicationRegistration, prefix: str, opts: pulumi.ResourceOptions) -> None:
        for role in APP_ROLES:
            azuread.ApplicationAppRole(
                f"{name}-role-{role.value.replace('.', '-')}",
                application_id=app.id,
                role_id=stable_id(prefix, "role", role.value),
                value=role.value,
                display_name=role.display_name,
                description=role.description,
                allowed_member_types=ALLOWED_MEMBER_TYPES,
                opts=opts,
            )
