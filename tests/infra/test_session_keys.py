"""Sealed session ids on the stacks: every gateway replica gets the same generated keyring through the gateway's
Secret, and nothing else holds it (not the router, not a ConfigMap, not a pod spec, not a stack output)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.settings import parse_seal_keys
from infra import render
from infra.components import manifests
from infra.config import parse_config
from tests.infra.conftest import ENTRA_CLIENT_ID, load_stack_file
from tests.infra.mocks import Recorded, random_bytes_base64, run_stack

STACKS = ["dev", "prod", "local"]
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"


def _keyring(stack: Recorded) -> str:
    return str(stack.k8s("Secret", manifests.APP_SECRET)["stringData"][manifests.SEAL_KEYS_SETTING])


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_secret_holds_one_generated_32_byte_key_named_k1(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    recorded = committed_stacks[stack]
    (key,) = recorded.of_type(RANDOM_BYTES)
    assert (key.name, key.inputs["length"]) == ("seal-key-k1", 32)
    keyring = _keyring(recorded)
    assert keyring == f"k1:{random_bytes_base64('seal-key-k1')}"
    (parsed,) = parse_seal_keys(keyring)  # what the gateway accepts at start
    assert parsed[0] == "k1" and len(parsed[1]) == 32
    # A Pulumi secret all the way into the Kubernetes Secret (the state and `pulumi preview` hide it).
    gateway_secret = recorded.one("kubernetes:core/v1:Secret", manifests.APP_SECRET)
    assert "stringData" in gateway_secret.secret_inputs


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_gateways_secret_holds_the_seal_key(committed_stacks: dict[str, Recorded], stack: str) -> None:
    recorded = committed_stacks[stack]
    key = _keyring(recorded).partition(":")[2]
    holders = [
        (doc["kind"], doc["metadata"]["name"]) for doc in recorded.k8s_docs() if key in json.dumps(doc)
    ]
    assert holders == [("Secret", manifests.APP_SECRET)]
    router_secret = recorded.k8s("Secret", manifests.ROUTER_SECRET)["stringData"]
    assert manifests.SEAL_KEYS_SETTING not in router_secret
    for doc in recorded.k8s_docs():
        if doc["kind"] == "ConfigMap":
            assert not any("SEAL_KEYS" in name for name in doc["data"]), doc["metadata"]["name"]
    router = recorded.k8s("StatefulSet", manifests.ROUTER)["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in router["env"] if "SESSIONS" in e["name"]]
    assert not [value for value in recorded.outputs.values() if key in json.dumps(value)]


@pytest.mark.parametrize("stack", STACKS)
def test_sessions_are_sealed_and_no_store_is_read_for_routing(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    env = committed_stacks[stack].k8s("ConfigMap", manifests.APP_CONFIG)["data"]
    assert (env["MCPGW_SESSIONS__SEALED"], env["MCPGW_SESSIONS__KIND"]) == ("true", "memory")
    assert "MCPGW_SESSIONS__REDIS_URL" not in env
    gateway = committed_stacks[stack].k8s("Deployment", manifests.GATEWAY)["spec"]["template"]["metadata"]
    assert gateway["annotations"][manifests.SEAL_KEY_IDS_ANNOTATION] == "k1"


def _rotated(seal_key_ids: list[str]) -> Recorded:
    cfg = parse_config(
        "azure",
        workloads={"gatewayReplicas": 2, "sealKeyIds": seal_key_ids},
        images={"build": False, "tag": "1.2.3"},
        azure={"label": "unittest", "entraClientId": ENTRA_CLIENT_ID},
        local=None,
    )
    return run_stack(cfg)


def test_a_rotation_adds_a_key_by_id_and_keeps_the_old_one_until_its_id_is_removed() -> None:
    # Step 1 of docs/deploy.md "Session keys": k2 opens, k1 still seals; k1's resource (and so its key) is unchanged.
    step1 = _rotated(["k1", "k2"])
    assert sorted(r.name for r in step1.of_type(RANDOM_BYTES)) == ["seal-key-k1", "seal-key-k2"]
    k1, k2 = random_bytes_base64("seal-key-k1"), random_bytes_base64("seal-key-k2")
    assert _keyring(step1) == f"k1:{k1},k2:{k2}"
    # Step 2: k2 seals.
    step2 = _rotated(["k2", "k1"])
    assert [kid for kid, _ in parse_seal_keys(_keyring(step2))] == ["k2", "k1"]
    # Each step changes the pod template, so the gateway's pods restart with the new Secret.
    annotations = [
        s.k8s("Deployment", manifests.GATEWAY)["spec"]["template"]["metadata"]["annotations"]
        for s in (step1, step2, _rotated(["k2"]))
    ]
    assert [a[manifests.SEAL_KEY_IDS_ANNOTATION] for a in annotations] == ["k1,k2", "k2,k1", "k2"]


def _rendered_keyring(docs: list[dict[str, Any]]) -> str:
    (secret,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == manifests.APP_SECRET]
    return str(secret["stringData"][manifests.SEAL_KEYS_SETTING])


def test_the_render_writes_a_placeholder_or_a_fresh_valid_keyring() -> None:
    cfg = load_stack_file("local")
    rendered = render.render(cfg, {})
    assert _rendered_keyring(rendered.docs) == "REPLACE_ME_SEAL_KEYS"
    assert "sealKeys" in rendered.placeholders
    first = _rendered_keyring(render.render(cfg, {}, generate_secrets=True).docs)
    second = _rendered_keyring(render.render(cfg, {}, generate_secrets=True).docs)
    assert first != second
    (parsed,) = parse_seal_keys(first)
    assert parsed[0] == "k1" and len(parsed[1]) == 32
