"""``python -m infra.render`` output applied to a real kube-apiserver, the way a ``kubectl apply`` user would.

The local and dev stacks are rendered from their committed stack files (only the namespaces renamed, so
runs don't collide), server-side applied with ``dryRun=All`` and then for real, and read back; then the RBAC
authorizer answers, for the gateway's service account, every verb on every resource the runtime uses.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from k8s_control_plane import ControlPlane
from k8s_objects import UNSERVED_KINDS, collection, may

from gateway.runtimes.kubernetes.rbac import RBAC_RULES
from infra.components import manifests

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
APPLY = {"Content-Type": "application/apply-patch+yaml"}
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
DEV_VALUES = {
    "registryLoginServer": "mcpgwdev.azurecr.io",
    "gatewayUrl": "https://mcpgw-mcpgwdev.westus3.cloudapp.azure.com",
    "tenantId": "00000000-0000-0000-0000-000000000001",
    "cosmosEndpoint": "https://mcpgw-mcpgwdev-cosmos.documents.azure.com:443/",
    "gatewayClientId": "00000000-0000-0000-0000-000000000002",
    "workloadClientId": "00000000-0000-0000-0000-000000000003",
    "kubeconfig": "[secret]",  # as `pulumi stack output --json` prints it; the render ignores it
}


def _stack_file(stack: str, directory: Path, suffix: str) -> Path:
    """The committed stack file with fresh namespace names (and dev's Entra app, as `pulumi config set`)."""
    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    config = raw["config"]
    workloads = config["mcp-gateway:workloads"]
    workloads["gatewayNamespace"] = f"gw-{stack}-{suffix}"
    workloads["adapterNamespace"] = f"ad-{stack}-{suffix}"
    if "mcp-gateway:azure" in config:
        config["mcp-gateway:azure"]["entraClientId"] = "00000000-0000-0000-0000-000000000004"
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _render(stack: str, directory: Path, suffix: str) -> list[dict[str, Any]]:
    """Run the CLI as a user would and load what it wrote, in file-name (apply) order."""
    argv = [
        sys.executable,
        "-m",
        "infra.render",
        "--stack",
        stack,
        "--stack-file",
        str(_stack_file(stack, directory, suffix)),
    ]
    if stack == "dev":
        values = directory / "values.json"
        values.write_text(json.dumps(DEV_VALUES))
        argv += ["--values", str(values)]
    out = directory / "k8s"
    result = subprocess.run([*argv, "-o", str(out)], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [yaml.safe_load(path.read_text()) for path in sorted(out.iterdir())]


def _apply(admin: httpx.Client, doc: dict[str, Any], *, dry_run: bool) -> httpx.Response:
    """Server-side apply (``kubectl apply --server-side``), JSON being YAML."""
    params = {"fieldManager": "mcpgw-render-test", **({"dryRun": "All"} if dry_run else {})}
    url = f"{collection(doc)}/{doc['metadata']['name']}"
    return admin.patch(url, params=params, headers=APPLY, content=json.dumps(doc))


def _applied(admin: httpx.Client, docs: list[dict[str, Any]]) -> None:
    """Namespaces first (a dry run cannot create a namespace for what follows), then a dry run of every
    other object before any is created, then all of them for real."""
    served = [d for d in docs if d["kind"] not in UNSERVED_KINDS]
    namespaces = [d for d in served if d["kind"] == "Namespace"]
    others = [d for d in served if d["kind"] != "Namespace"]
    for doc in namespaces:
        _check(_apply(admin, doc, dry_run=True), doc)
        _check(_apply(admin, doc, dry_run=False), doc)
    for doc in others:
        _check(_apply(admin, doc, dry_run=True), doc)
        assert admin.get(f"{collection(doc)}/{doc['metadata']['name']}").status_code == 404, "dry run persisted"
    for doc in others:
        _check(_apply(admin, doc, dry_run=False), doc)


def _check(response: httpx.Response, doc: dict[str, Any]) -> None:
    assert response.status_code in (200, 201), f"{doc['kind']}/{doc['metadata']['name']}: {response.text}"


def _contains(stored: Any, sent: Any, where: str = "") -> None:
    """Every field sent is stored as sent (the API server only adds defaults, and drops empty lists)."""
    if sent in ([], {}) and stored is None:
        return
    if isinstance(sent, dict):
        assert isinstance(stored, dict), where
        for key, value in sent.items():
            _contains(stored.get(key), value, f"{where}.{key}")
    elif isinstance(sent, list):
        assert isinstance(stored, list) and len(stored) == len(sent), where
        for index, (got, want) in enumerate(zip(stored, sent, strict=True)):
            _contains(got, want, f"{where}[{index}]")
    else:
        assert stored == sent, f"{where}: {stored!r} != {sent!r}"


def _read_back(admin: httpx.Client, doc: dict[str, Any]) -> None:
    response = admin.get(f"{collection(doc)}/{doc['metadata']['name']}")
    assert response.status_code == 200, response.text
    stored = response.json()
    sent = dict(doc)
    if "stringData" in sent:  # stored base64-encoded under data
        string_data = sent.pop("stringData")
        decoded = {k: base64.b64decode(v).decode() for k, v in (stored.get("data") or {}).items()}
        assert decoded == string_data, doc["metadata"]["name"]
    _contains(stored, sent, f"{doc['kind']}/{doc['metadata']['name']}")


@pytest.fixture(params=["local", "dev"])
def rendered(request: pytest.FixtureRequest, admin: httpx.Client, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """A stack rendered and applied; its namespaces deleted afterwards."""
    docs = _render(request.param, tmp_path, uuid.uuid4().hex[:8])
    try:
        _applied(admin, docs)
        yield docs
    finally:
        for doc in docs:
            if doc["kind"] == "Namespace":
                admin.delete(f"/api/v1/namespaces/{doc['metadata']['name']}")


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_the_api_server_stores_every_rendered_object_as_rendered(
    rendered: list[dict[str, Any]], admin: httpx.Client
) -> None:
    served = [d for d in rendered if d["kind"] not in UNSERVED_KINDS]
    assert {d["kind"] for d in served} >= {"Namespace", "Role", "RoleBinding", "Secret", "Deployment", "StatefulSet"}
    for doc in served:
        _read_back(admin, doc)


def test_the_gateway_may_make_exactly_the_runtimes_calls(
    rendered: list[dict[str, Any]], admin: httpx.Client, control_plane: ControlPlane
) -> None:
    binding = _one(rendered, "RoleBinding", manifests.RUNTIME_ROLE)
    adapters = binding["metadata"]["namespace"]
    gateway_namespace = binding["subjects"][0]["namespace"]
    gateway = f"system:serviceaccount:{gateway_namespace}:{manifests.GATEWAY_SA}"
    control_plane.wait_until(lambda: may(admin, gateway, adapters, "list", "pods"), "the RoleBinding", 20)
    for rule in RBAC_RULES:
        group = rule["apiGroups"][0]
        for resource in rule["resources"]:
            for verb in VERBS:
                allowed = verb in rule["verbs"]
                assert may(admin, gateway, adapters, verb, resource, group) is allowed, (verb, resource)
    for verb, resource, group in [
        ("get", "secrets", ""),
        ("create", "pods", ""),
        ("create", "pods/exec", ""),
        ("create", "rolebindings", "rbac.authorization.k8s.io"),
        ("patch", "networkpolicies", "networking.k8s.io"),
    ]:
        assert not may(admin, gateway, adapters, verb, resource, group), (verb, resource)
    for verb, resource, group in [("list", "pods", ""), ("get", "secrets", ""), ("patch", "deployments", "apps")]:
        assert not may(admin, gateway, gateway_namespace, verb, resource, group), ("own namespace", verb, resource)
    for account in (manifests.ROUTER_SA, manifests.WORKLOAD_SA):
        user = f"system:serviceaccount:{adapters}:{account}"
        assert not may(admin, user, adapters, "list", "pods"), account
