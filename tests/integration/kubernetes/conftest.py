"""Fixtures for the Kubernetes runtime against a real control plane (see k8s_control_plane.py).

The control plane and the FakeNode live for the session; each test gets its own namespace with a Role made
of exactly ``RBAC_RULES`` bound to the runtime's user, so a call outside those rules fails the test with 403.
Fixtures act as an admin through plain HTTP (``admin``).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from k8s_control_plane import RUNTIME_TOKEN, RUNTIME_USER, ControlPlane, find_binaries, free_port
from k8s_fake_node import FakeNode

from gateway.runtimes import k8s_manifests
from gateway.runtimes.k8s_rbac import RBAC_RULES
from gateway.runtimes.kubernetes import KubernetesRuntime
from gateway.settings import KubernetesRuntimeSettings

T = TypeVar("T")
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


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client for assertions inside async tests (the session ``admin`` client is blocking)."""
    async with control_plane.async_admin() as client:
        yield client


def unreachable_settings(control_plane: ControlPlane, directory: Path) -> KubernetesRuntimeSettings:
    """Settings whose kubeconfig points at a port nobody listens on."""
    settings = runtime_settings(control_plane, "adapter", directory)
    kubeconfig = Path(settings.kubeconfig or "")
    kubeconfig.write_text(kubeconfig.read_text().replace(f":{control_plane.api_port}", f":{free_port()}"))
    return settings


@pytest.fixture
def sent_objects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every StatefulSet and Service manifest the runtime builds during the test."""
    sent: list[dict[str, Any]] = []
    for builder in ("statefulset", "service"):
        original = getattr(k8s_manifests, builder)

        def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            obj = _original(*args, **kwargs)
            sent.append(obj)
            return obj

        monkeypatch.setattr(k8s_manifests, builder, recording)
    return sent


@pytest.fixture
async def runtime(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, sent_objects: list[dict[str, Any]]
) -> AsyncIterator[KubernetesRuntime]:
    runtime = KubernetesRuntime(runtime_settings(control_plane, namespace, tmp_path))
    await runtime.start()
    yield runtime
    await runtime.close()


async def eventually(check: Callable[[], Awaitable[T]], what: str, within: float = 30.0) -> T:
    """Poll ``check`` until it returns a truthy value (or stops raising AssertionError), with a deadline."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        try:
            result = await check()
            if result:
                return result
            last = result
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last result: {last!r}")
        await asyncio.sleep(0.05)
