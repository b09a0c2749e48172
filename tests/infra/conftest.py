"""Stack builds shared by the infra tests (each build takes well under a second under mocks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.config import StackConfig, load_config, parse_config
from tests.infra.mocks import Recorded, run_stack

ENTRA_CLIENT_ID = "22222222-3333-4444-5555-666666666666"
ROOT = Path(__file__).resolve().parents[2]
CERT_VAULT_ID = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/certs/providers/Microsoft.KeyVault/vaults/kv-certs"
)
CERT_SECRET_ID = "https://kv-certs.vault.azure.net/secrets/mcp-example-com"
PROD_SETTINGS = {
    "entraClientId": ENTRA_CLIENT_ID,
    "tlsCertificateSecretId": CERT_SECRET_ID,
    "tlsKeyVaultId": CERT_VAULT_ID,
    "publicHostName": "mcp.example.com",
}
"""What docs/deploy.md has the operator set on the prod stack before its first run."""
COMMITTED_STACKS = {"dev": {"entraClientId": ENTRA_CLIENT_ID}, "prod": PROD_SETTINGS, "local": {}}


def load_stack_file(stack: str, **extra_azure: Any) -> StackConfig:
    """The configuration of the committed ``Pulumi.<stack>.yaml``, plus what ``pulumi config set`` adds."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    values = {k: v for k, v in raw.items() if k.startswith("mcp-gateway:")}
    if "mcp-gateway:azure" in values:
        values["mcp-gateway:azure"] = {**values["mcp-gateway:azure"], **extra_azure}
    # Config only: no set_mocks here, which would create a root stack resource on the current event loop,
    # where run_stack's build (on a fresh loop) could not await it.
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    try:
        return load_config()
    finally:
        pulumi.runtime.set_all_config({})


@pytest.fixture(scope="session")
def committed_stacks() -> dict[str, Recorded]:
    """dev, prod and local, each built from its committed stack file under mocks."""
    configs = {name: load_stack_file(name, **extra) for name, extra in COMMITTED_STACKS.items()}
    with pytest.MonkeyPatch.context() as patch:
        # dev and prod build their images; never call the real registry from a unit test.
        patch.setattr("infra.stack.exchange_refresh_token", lambda *args: "acr-refresh-token")
        return {name: run_stack(cfg, stack=name) for name, cfg in configs.items()}


def azure_config(**azure: object) -> StackConfig:
    return parse_config(
        "azure",
        workloads={"gatewayReplicas": 3},
        images={"build": False, "tag": "1.2.3"},
        azure={"label": "unittest", "entraClientId": ENTRA_CLIENT_ID, "nodeCount": 3, **azure},
        local=None,
    )


def local_config() -> StackConfig:
    return parse_config(
        "local",
        workloads={"gatewayReplicas": 1},
        images={"registry": "localhost:5001", "tag": "dev"},
        azure=None,
        local={"kubeContext": "kind-unit"},
    )


@pytest.fixture(scope="module")
def azure_stack() -> Recorded:
    return run_stack(azure_config())


@pytest.fixture(scope="module")
def local_stack() -> Recorded:
    return run_stack(local_config(), stack="local")
