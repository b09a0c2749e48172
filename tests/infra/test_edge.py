"""The Azure edge of the committed dev and prod stacks: HTTPS with a Key Vault certificate read by the App
Gateway's own identity, HTTP only redirecting, SSE unbuffered, the cluster-only paths never forwarded."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.infra.conftest import CERT_SECRET_ID, CERT_VAULT_ID
from tests.infra.mocks import SUBSCRIPTION, Recorded

APPGW = "azure-native:network:ApplicationGateway"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
AZURE_STACKS = ["dev", "prod"]
PUBLIC_HOSTS = {"dev": "mcpgw-mcpgwdev.westus3.cloudapp.azure.com", "prod": "mcp.example.com"}


def _appgw(stacks: dict[str, Recorded], stack: str) -> dict[str, Any]:
    return stacks[stack].one(APPGW).inputs


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def _ref_name(sub_resource: dict[str, Any]) -> str:
    """The last segment of a sub-resource id: what it points at."""
    return str(sub_resource["id"].rsplit("/", 1)[1])


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_https_listens_on_443_with_the_key_vault_certificate_and_tls_1_2_or_later(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    appgw = _appgw(committed_stacks, stack)
    listeners = _by_name(appgw["httpListeners"])
    https = listeners["https"]
    assert https["protocol"] == "Https"
    assert _ref_name(https["frontendPort"]) == "https"
    assert _by_name(appgw["frontendPorts"])["https"]["port"] == 443
    (certificate,) = appgw["sslCertificates"]
    assert _ref_name(https["sslCertificate"]) == certificate["name"]
    assert certificate["keyVaultSecretId"].startswith("https://") and "/secrets/" in certificate["keyVaultSecretId"]
    assert "data" not in certificate  # no PFX or password in the App Gateway's own configuration
    assert appgw["sslPolicy"] == {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101"}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_plain_http_only_redirects_to_https_keeping_path_and_query(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    appgw = _appgw(committed_stacks, stack)
    rules = _by_name(appgw["requestRoutingRules"])
    http_rules = [r for r in rules.values() if _ref_name(r["httpListener"]) == "http"]
    (redirect_rule,) = http_rules
    assert "backendAddressPool" not in redirect_rule and "urlPathMap" not in redirect_rule
    redirect = _by_name(appgw["redirectConfigurations"])[_ref_name(redirect_rule["redirectConfiguration"])]
    assert redirect["redirectType"] == "Permanent"
    assert _ref_name(redirect["targetListener"]) == "https"
    assert redirect["includePath"] is True and redirect["includeQueryString"] is True


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_response_buffering_is_off_so_server_sent_events_stream(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    assert _appgw(committed_stacks, stack)["globalConfiguration"]["enableResponseBuffering"] is False


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_metrics_and_internal_paths_go_to_a_pool_without_backends(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    appgw = _appgw(committed_stacks, stack)
    (https_rule,) = [r for r in appgw["requestRoutingRules"] if _ref_name(r["httpListener"]) == "https"]
    assert https_rule["ruleType"] == "PathBasedRouting" and "backendAddressPool" not in https_rule
    path_map = _by_name(appgw["urlPathMaps"])[_ref_name(https_rule["urlPathMap"])]
    pools = _by_name(appgw["backendAddressPools"])
    assert _ref_name(path_map["defaultBackendAddressPool"]) == "gateway"
    assert pools["gateway"]["backendAddresses"] == [{"ipAddress": "10.0.1.100"}]
    blocked = {path: _ref_name(rule["backendAddressPool"]) for rule in path_map["pathRules"] for path in rule["paths"]}
    assert blocked == {path: "cluster-only" for path in ("/metrics", "/metrics/*", "/internal", "/internal/*")}
    assert pools["cluster-only"]["backendAddresses"] == []


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_the_app_gateway_reads_the_certificate_with_its_own_identity_granted_on_the_vault(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    recorded = committed_stacks[stack]
    identity = recorded.one("azure-native:managedidentity:UserAssignedIdentity", "appgw").inputs
    appgw = _appgw(committed_stacks, stack)
    assert appgw["identity"]["type"] == "UserAssigned"
    (identity_id,) = appgw["identity"]["userAssignedIdentities"]
    assert identity_id.endswith(f"/{identity['resourceName']}")
    grant = recorded.one(ROLE_ASSIGNMENT, "appgw-secrets-user").inputs
    assert grant["principalId"] == f"{identity['resourceName']}-principal-id"
    assert grant["roleDefinitionId"] == (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER}"
    )
    vaults = recorded.of_type("azure-native:keyvault:Vault")
    expected_scope = CERT_VAULT_ID if stack == "prod" else f"/{vaults[0].inputs['vaultName']}"
    assert grant["scope"].endswith(expected_scope)


def test_prod_uses_the_operators_certificate_and_creates_no_vault(committed_stacks: dict[str, Recorded]) -> None:
    prod = committed_stacks["prod"]
    assert not prod.of_type("azure-native:keyvault:Vault")
    assert not prod.of_type("tls:index/selfSignedCert:SelfSignedCert")
    assert _appgw(committed_stacks, "prod")["sslCertificates"][0]["keyVaultSecretId"] == CERT_SECRET_ID


def test_dev_stores_a_self_signed_certificate_for_its_dns_name_as_a_passwordless_pfx(
    committed_stacks: dict[str, Recorded],
) -> None:
    dev = committed_stacks["dev"]
    vault = dev.one("azure-native:keyvault:Vault").inputs
    assert vault["properties"]["enableRbacAuthorization"] is True
    assert len(vault["vaultName"]) <= 24
    secret = dev.one("azure-native:keyvault:Secret").inputs
    assert secret["vaultName"] == vault["vaultName"]
    assert secret["properties"]["contentType"] == "application/x-pkcs12"
    _, certificate, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret["properties"]["value"]), None)
    assert certificate is not None
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [PUBLIC_HOSTS["dev"]]
    listener_secret = _appgw(committed_stacks, "dev")["sslCertificates"][0]["keyVaultSecretId"]
    assert listener_secret == f"https://{vault['vaultName']}.vault.azure.net/secrets/gateway-tls"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_the_public_url_is_https_on_the_public_host(committed_stacks: dict[str, Recorded], stack: str) -> None:
    recorded = committed_stacks[stack]
    url = f"https://{PUBLIC_HOSTS[stack]}"
    assert recorded.k8s("ConfigMap", "mcpgateway-config")["data"]["MCPGW_SERVER__PUBLIC_URL"] == url
    assert recorded.outputs["gatewayUrl"] == url
