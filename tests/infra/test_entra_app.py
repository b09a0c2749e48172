"""``azure.entraApp: create``: the dev stack creates the Entra app registration docs/entra.md clicks through."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from tests.infra.conftest import ENTRA_CLIENT_ID, ROOT, load_stack_file
from tests.infra.mocks import ENTRA_APP_CLIENT_ID, ENTRA_APP_OBJECT_ID, Recorded, Registration, run_stack

AZUREAD = "azuread:index/"
REGISTRATION = f"{AZUREAD}applicationRegistration:ApplicationRegistration"
IDENTIFIER_URI = f"{AZUREAD}applicationIdentifierUri:ApplicationIdentifierUri"
SCOPE = f"{AZUREAD}applicationPermissionScope:ApplicationPermissionScope"
APP_ROLE = f"{AZUREAD}applicationAppRole:ApplicationAppRole"
PRE_AUTHORIZED = f"{AZUREAD}applicationPreAuthorized:ApplicationPreAuthorized"
SERVICE_PRINCIPAL = f"{AZUREAD}servicePrincipal:ServicePrincipal"
APP_ID = f"/applications/{ENTRA_APP_OBJECT_ID}"


def _dev_stack_creating_the_app(**azure: Any) -> Recorded:
    cfg = load_stack_file("dev", entraApp="create", **azure)
    with pytest.MonkeyPatch.context() as patch:
        # The dev stack builds its images; never call the real registry from a unit test.
        patch.setattr("infra.stack.exchange_refresh_token", lambda *args: "acr-refresh-token")
        return run_stack(cfg, stack="dev")


@pytest.fixture(scope="module")
def dev_stack() -> Recorded:
    return _dev_stack_creating_the_app()


def _ids(stack: Recorded) -> dict[str, str]:
    ids = {r.inputs["value"]: r.inputs["roleId"] for r in stack.of_type(APP_ROLE)}
    return {**ids, "scope:access": stack.one(SCOPE).inputs["scopeId"]}


def test_the_registration_is_single_tenant_issues_v2_tokens_and_is_named_after_the_stack(dev_stack: Recorded) -> None:
    app = dev_stack.one(REGISTRATION).inputs
    assert app["displayName"] == "MCP Gateway (mcpgw-mcpgwdev)"
    assert app["signInAudience"] == "AzureADMyOrg"
    # The gateway advertises the v2.0 issuer; v1 tokens would carry https://sts.windows.net/<tenant>/.
    assert app["requestedAccessTokenVersion"] == 2


def test_the_application_id_uri_is_api_slash_the_created_client_id(dev_stack: Recorded) -> None:
    uri = dev_stack.one(IDENTIFIER_URI).inputs
    assert uri == {"applicationId": APP_ID, "identifierUri": f"api://{ENTRA_APP_CLIENT_ID}"}


def test_the_access_scope_may_be_consented_by_admins_and_users(dev_stack: Recorded) -> None:
    scope = dev_stack.one(SCOPE).inputs
    assert (scope["applicationId"], scope["value"], scope["type"]) == (APP_ID, "access", "User")
    assert scope["adminConsentDisplayName"] and scope["adminConsentDescription"]
    assert scope["userConsentDisplayName"] and scope["userConsentDescription"]
    uuid.UUID(scope["scopeId"])


def test_the_admin_and_engineer_roles_are_assignable_to_users_and_applications(dev_stack: Recorded) -> None:
    roles = {r.inputs["value"]: r.inputs for r in dev_stack.of_type(APP_ROLE)}
    assert set(roles) == {"mcp.admin", "mcp.engineer"}
    for role in roles.values():
        assert role["applicationId"] == APP_ID
        assert role["allowedMemberTypes"] == ["User", "Application"]
        assert role["displayName"] and role["description"]
    ids = _ids(dev_stack).values()
    assert len(set(ids)) == 3 and all(uuid.UUID(i) for i in ids)


def test_scope_and_role_ids_survive_a_second_run_and_differ_between_stacks(dev_stack: Recorded) -> None:
    # Assignments and grants name these ids: a fresh random id on each `pulumi up` would orphan them.
    assert _ids(_dev_stack_creating_the_app()) == _ids(dev_stack)
    other = _ids(_dev_stack_creating_the_app(label="othergw"))
    assert not set(other.values()) & set(_ids(dev_stack).values())


def _documented_clients() -> dict[str, str]:
    """The "Authorize VS Code and the Azure CLI" table of docs/entra.md: client name -> application id."""
    rows = re.findall(r"^\| ([^|]+?) \| `([0-9a-f-]{36})` \|$", (ROOT / "docs/entra.md").read_text(), re.M)
    return dict(rows)


def test_vscode_and_the_azure_cli_are_pre_authorized_for_the_access_scope(dev_stack: Recorded) -> None:
    documented = _documented_clients()
    assert set(documented) == {"Visual Studio Code", "Azure CLI"}
    grants: list[Registration] = dev_stack.of_type(PRE_AUTHORIZED)
    assert {g.inputs["authorizedClientId"] for g in grants} == set(documented.values())
    scope_id = dev_stack.one(SCOPE).inputs["scopeId"]
    for grant in grants:
        assert grant.inputs["applicationId"] == APP_ID
        assert grant.inputs["permissionIds"] == [scope_id]


def test_the_service_principal_lets_entra_issue_tokens_without_requiring_assignment(dev_stack: Recorded) -> None:
    sp = dev_stack.one(SERVICE_PRINCIPAL).inputs
    assert sp["clientId"] == ENTRA_APP_CLIENT_ID
    assert sp["appRoleAssignmentRequired"] is False


def test_assignment_can_be_required() -> None:
    stack = _dev_stack_creating_the_app(entraAppAssignmentRequired=True)
    assert stack.one(SERVICE_PRINCIPAL).inputs["appRoleAssignmentRequired"] is True


def test_the_gateway_accepts_tokens_for_the_created_app(dev_stack: Recorded) -> None:
    env = dev_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_AUTH__CLIENT_ID"] == ENTRA_APP_CLIENT_ID
    # scopes_supported then defaults to api://<client id>/.default (gateway/auth/metadata.py).
    assert "MCPGW_AUTH__SCOPES_SUPPORTED" not in env


def test_the_outputs_name_the_scope_and_roles_to_paste_into_clients(dev_stack: Recorded) -> None:
    assert dev_stack.outputs["entraScope"] == f"api://{ENTRA_APP_CLIENT_ID}/access"
    assert dev_stack.outputs["entraAppRoles"] == ["mcp.admin", "mcp.engineer"]
    assert not {"entraScope", "entraAppRoles"} & dev_stack.secret_outputs


def test_with_an_existing_app_no_entra_object_is_created(committed_stacks: dict[str, Recorded]) -> None:
    for name in ("dev", "prod"):
        stack = committed_stacks[name]
        assert not [r.typ for r in stack.resources if r.typ.startswith("azuread:")]
        assert stack.k8s("ConfigMap", "mcpgateway-config")["data"]["MCPGW_AUTH__CLIENT_ID"] == ENTRA_CLIENT_ID
        assert "entraScope" not in stack.outputs


@pytest.mark.parametrize(
    ("azure", "message"),
    [
        ({"entraApp": "create", "entraClientId": ENTRA_CLIENT_ID}, "entraClientId must be absent with azure.entraApp"),
        ({}, "azure.entraClientId .* is required with azure.entraApp: existing"),
        ({"entraApp": "existing"}, "azure.entraClientId .* is required"),
        ({"entraApp": "Create"}, "azure.entraApp must be one of"),
        ({"entraClientId": ENTRA_CLIENT_ID, "entraAppAssignmentRequired": True}, "needs azure.entraApp: create"),
    ],
    ids=["both-sources", "neither", "existing-without-id", "misspelt-choice", "assignment-on-existing-app"],
)
def test_entra_settings_are_validated_naming_the_setting(azure: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config("azure", workloads={}, images={}, azure={"label": "unittest", **azure}, local=None)


def test_create_needs_no_client_id() -> None:
    cfg = parse_config("azure", workloads={}, images={}, azure={"label": "unittest", "entraApp": "create"}, local=None)
    assert cfg.azure is not None and (cfg.azure.entra_app, cfg.azure.entra_client_id) == ("create", None)
