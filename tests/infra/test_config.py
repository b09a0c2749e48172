"""Stack configuration: the committed stack files build, and bad values fail with the key to fix."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from tests.infra.conftest import CERT_SECRET_ID, CERT_VAULT_ID, ENTRA_CLIENT_ID, PROD_SETTINGS, load_stack_file
from tests.infra.mocks import Recorded


def test_the_committed_dev_stack_file_builds_once_the_entra_app_is_set(committed_stacks: dict[str, Recorded]) -> None:
    cfg = load_stack_file("dev", entraClientId=ENTRA_CLIENT_ID)
    assert cfg.target == "azure" and cfg.azure is not None and cfg.azure.network_policy == "cilium"
    stack = committed_stacks["dev"]
    assert stack.one("azure-native:containerservice:ManagedCluster").inputs["agentPoolProfiles"][0]["count"] == 2
    assert len(stack.of_type("docker-build:index:Image")) == 3  # gateway, tool router, bridge


def test_the_dev_stack_file_without_an_entra_app_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="azure.entraClientId"):
        load_stack_file("dev")


def test_the_prod_stack_file_without_its_certificate_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="tlsCertificateSecretId"):
        load_stack_file("prod", entraClientId=ENTRA_CLIENT_ID)


def test_the_committed_prod_stack_file_is_production_shaped(committed_stacks: dict[str, Recorded]) -> None:
    cfg = load_stack_file("prod", **PROD_SETTINGS)
    assert cfg.azure is not None
    assert (cfg.azure.aks_tier, cfg.azure.availability_zones) == ("Standard", ["1", "2", "3"])
    assert (cfg.azure.cosmos_serverless, cfg.azure.cosmos_backup) == (False, "Continuous30Days")
    assert cfg.azure.private_endpoints and cfg.azure.registry_sku == "Premium"
    assert cfg.workloads.gateway_replicas >= 3
    aks = committed_stacks["prod"].one("azure-native:containerservice:ManagedCluster").inputs
    assert aks["sku"]["tier"] == "Standard"


def test_the_committed_local_stack_file_builds(committed_stacks: dict[str, Recorded]) -> None:
    cfg = load_stack_file("local")
    assert cfg.local is not None and cfg.local.kube_context == "kind-mcp-gateway"
    assert committed_stacks["local"].k8s("Deployment", "mcpgateway")["spec"]["replicas"] == 1


def _azure(**azure: Any) -> dict[str, Any]:
    return {"label": "unittest", "entraClientId": ENTRA_CLIENT_ID, **azure}


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("gcp", {}, "target must be"),
        ("azure", {"azure": _azure(nodeCont=2)}, "unknown keys"),
        ("azure", {"azure": _azure(label="Has-Dash")}, "azure.label"),
        ("azure", {"azure": _azure(gatewayInternalIp="10.0.2.10")}, "gatewayInternalIp"),
        ("azure", {"azure": _azure(appgwSubnetCidr="10.0.1.128/25")}, "not overlap"),
        ("azure", {"azure": _azure(aksTier="free")}, "aksTier must be one of"),
        ("azure", {"azure": _azure(tlsCertificate="self-signed")}, "tlsCertificate must be one of"),
        ("azure", {"azure": _azure(tlsCertificateSecretId=CERT_SECRET_ID)}, "need tlsCertificate: keyVault"),
        (
            "azure",
            {
                "azure": _azure(
                    tlsCertificate="keyVault",
                    tlsKeyVaultId=CERT_VAULT_ID,
                    tlsCertificateSecretId=f"{CERT_SECRET_ID}/0123abcd",
                )
            },
            "versionless",
        ),
        (
            "azure",
            {"azure": _azure(tlsCertificate="keyVault", tlsCertificateSecretId=CERT_SECRET_ID)},
            "tlsKeyVaultId",
        ),
        ("azure", {"azure": _azure(privateEndpoints=True)}, "Premium"),
        (
            "azure",
            {"azure": _azure(privateEndpoints=True, registrySku="Premium", endpointsSubnetCidr="10.0.2.0/25")},
            "endpointsSubnetCidr",
        ),
        ("azure", {"azure": _azure(availabilityZones=["1", "4"])}, "availabilityZones"),
        ("azure", {"azure": _azure(cosmosBackup="continuous")}, "cosmosBackup must be one of"),
        ("azure", {"azure": _azure(), "workloads": {"gatewayNamespace": "adapter"}}, "must differ"),
        ("azure", {"azure": _azure(), "workloads": {"adapterNamespace": "Adapters"}}, "DNS labels"),
        ("azure", {"azure": _azure(), "workloads": {"adapterDeniedCidrs": ["20.1.2.3/33"]}}, "adapterDeniedCidrs"),
        ("azure", {"azure": _azure(), "workloads": {"adapterDeniedCidrs": ["0.0.0.0/0"]}}, "adapterInternetEgress"),
        ("azure", {"azure": _azure(), "workloads": {"sealKeyIds": []}}, "sealKeyIds must be a non-empty list"),
        ("azure", {"azure": _azure(), "workloads": {"sealKeyIds": "k1"}}, "sealKeyIds must be a non-empty list"),
        ("azure", {"azure": _azure(), "workloads": {"sealKeyIds": ["k2", "key:1"]}}, "'key:1' is not a key id"),
        ("azure", {"azure": _azure(), "workloads": {"sealKeyIds": ["k2", "k1", "k2"]}}, "lists an id twice"),
        ("local", {"workloads": {"gatewayReplicas": 2}, "images": {"registry": "localhost:5001"}}, "must be 1"),
        (
            "local",
            {"local": {"redisImage": "redis:7"}, "images": {"registry": "localhost:5001"}},
            "local has unknown keys",
        ),
        ("local", {}, "images.registry"),
        (
            "local",
            {"workloads": {"aggregateAdapters": "false"}, "images": {"registry": "localhost:5001"}},
            "workloads.aggregateAdapters must be true or false",
        ),
    ],
    ids=[
        "unknown-target",
        "typo-key",
        "bad-label",
        "lb-ip-outside-subnet",
        "overlapping-subnets",
        "misspelt-choice",
        "misspelt-tls-choice",
        "own-certificate-without-key-vault-mode",
        "versioned-secret-id",
        "own-certificate-without-its-vault",
        "private-endpoints-without-premium-registry",
        "endpoints-subnet-overlaps",
        "unknown-zone",
        "misspelt-backup",
        "one-namespace-for-both",
        "namespace-not-a-dns-label",
        "bad-denied-cidr",
        "everything-denied",
        "no-seal-key",
        "seal-key-ids-not-a-list",
        "bad-seal-key-id",
        "seal-key-id-twice",
        "local-replicas",
        "no-redis-on-kind",
        "local-registry",
        "quoted-bool",
    ],
)
def test_invalid_configuration_is_rejected_with_the_key_to_fix(
    target: str, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"workloads": {}, "images": {}, "azure": None, "local": None, **kwargs}
    with pytest.raises(ConfigError, match=message):
        parse_config(target, **args)
