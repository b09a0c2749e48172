"""The real Kubernetes control plane for the whole suite: session fixtures shared by the Kubernetes runtime's
integration tests and the Runtime contract suite (tests/contract/test_runtime.py), so one test session starts
one control plane (see tests/integration/kubernetes/k8s_control_plane.py).

Each test gets its own namespace with a Role made of exactly ``RBAC_RULES`` bound to the runtime's user, so a
call outside those rules fails the test with 403. Fixtures act as an admin through plain HTTP (``admin``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "integration" / "kubernetes"))

from k8s_control_plane import RUNTIME_TOKEN, RUNTIME_USER, ControlPlane, find_binaries
from k8s_fake_node import FakeNode

from gateway.runtimes.kubernetes.rbac import RBAC_RULES
from gateway.settings import KubernetesRuntimeSettings

REGISTRY = "registry.test"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    binaries, missing = find_binaries()
    if missing:
        message = (
            f"Kubernetes test binaries not found: {', '.join(missing)}. Run scripts/kube-apiserver.sh "
            "(builds kube-apiserver and kube-controller-manager, installs etcd) or set KUBEBUILDER_ASSETS."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI must run these tests, never skip them silently
        pytest.skip(message)
    plane = ControlPlane(binaries, tmp_path_factory.mktemp("kube"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def admin(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.admin() as client:
        yield client


@pytest.fixture(scope="session")
def fake_node(admin: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeNode]:
    node = FakeNode(admin, tmp_path_factory.mktemp("kubelet"))
    node.start()
    yield node
    node.stop()


def create_namespace(admin: httpx.Client) -> str:
    name = f"mcpgw-{uuid.uuid4().hex[:8]}"
    admin.post("/api/v1/namespaces", json={"metadata": {"name": name}}).raise_for_status()
    return name


def grant_runtime_role(admin: httpx.Client, control_plane: ControlPlane, namespace: str) -> None:
    """Bind a Role of exactly RBAC_RULES to the runtime's user, and wait until the authorizer applies it."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {"metadata": {"name": "mcp-gateway-runtime"}, "rules": RBAC_RULES}
    admin.post(f"{rbac}/roles", json=role).raise_for_status()
    binding = {
        "metadata": {"name": "mcp-gateway-runtime"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mcp-gateway-runtime"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RUNTIME_USER}],
    }
    admin.post(f"{rbac}/rolebindings", json=binding).raise_for_status()
    with control_plane.client(RUNTIME_TOKEN) as runtime_user:
        pods = f"/api/v1/namespaces/{namespace}/pods?limit=1"
        control_plane.wait_until(lambda: runtime_user.get(pods).status_code == 200, "the RoleBinding", 20)


@pytest.fixture
def namespace(admin: httpx.Client, control_plane: ControlPlane, fake_node: FakeNode) -> str:
    name = create_namespace(admin)
    grant_runtime_role(admin, control_plane, name)
    return name


def runtime_settings(control_plane: ControlPlane, namespace: str, directory: Path) -> KubernetesRuntimeSettings:
    kubeconfig = control_plane.write_kubeconfig(directory / "runtime.kubeconfig", RUNTIME_TOKEN, RUNTIME_USER)
    return KubernetesRuntimeSettings(namespace=namespace, kubeconfig=kubeconfig, in_cluster=False, registry=REGISTRY)
