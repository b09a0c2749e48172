"""Stack configuration: the committed stack files build, and bad values fail with the key to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.config import ConfigError, load_config, parse_config
from tests.infra.conftest import ENTRA_CLIENT_ID
from tests.infra.mocks import RecordingMocks, run_stack

ROOT = Path(__file__).resolve().parents[2]


def _load_stack_file(stack: str, **extra_azure: Any) -> Any:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    values = {k: v for k, v in raw.items() if k.startswith("mcp-gateway:")}
    if "mcp-gateway:azure" in values:
        values["mcp-gateway:azure"] = {**values["mcp-gateway:azure"], **extra_azure}
    pulumi.runtime.set_mocks(RecordingMocks(), project="mcp-gateway", stack=stack, preview=False)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    try:
        return load_config()
    finally:
        pulumi.runtime.set_all_config({})


def test_the_committed_dev_stack_file_builds_once_the_entra_app_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # The dev stack builds its images; never call the real registry from a unit test.
    monkeypatch.setattr("infra.stack.exchange_refresh_token", lambda *args: "acr-refresh-token")
    cfg = _load_stack_file("dev", entraClientId=ENTRA_CLIENT_ID)
    assert cfg.target == "azure" and cfg.azure is not None and cfg.azure.network_policy == "cilium"
    stack = run_stack(cfg)
    assert stack.one("azure-native:containerservice:ManagedCluster").inputs["agentPoolProfiles"][0]["count"] == 2
    assert len(stack.of_type("docker-build:index:Image")) == 2


def test_the_dev_stack_file_without_an_entra_app_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="entra_client_id"):
        _load_stack_file("dev")


def test_the_committed_local_stack_file_builds() -> None:
    cfg = _load_stack_file("local")
    assert cfg.local is not None and cfg.local.kube_context == "kind-mcp-gateway"
    stack = run_stack(cfg, stack="local")
    assert stack.k8s("Deployment", "mcpgateway")["spec"]["replicas"] == 1


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
        ("local", {"workloads": {"gatewayReplicas": 2}, "images": {"registry": "localhost:5001"}}, "must be 1"),
        ("local", {}, "images.registry"),
    ],
    ids=[
        "unknown-target",
        "typo-key",
        "bad-label",
        "lb-ip-outside-subnet",
        "overlapping-subnets",
        "local-replicas",
        "local-registry",
    ],
)
def test_invalid_configuration_is_rejected_with_the_key_to_fix(
    target: str, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"workloads": {}, "images": {}, "azure": None, "local": None, **kwargs}
    with pytest.raises(ConfigError, match=message):
        parse_config(target, **args)
