"""Fixtures for the Kubernetes runtime against a real control plane (see k8s_control_plane.py).

The control plane, the FakeNode and the per-test ``namespace`` come from tests/kube.py (shared with the
Runtime contract suite); this adds the runtime under test and helpers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from k8s_control_plane import ControlPlane

from gateway.runtimes.kubernetes import manifests as k8s_manifests
from gateway.runtimes.kubernetes.runtime import KubernetesRuntime
from gateway.settings import KubernetesRuntimeSettings
from tests.kube import REGISTRY, create_namespace, grant_runtime_role, runtime_settings
from tests.support.ports import free_port
from tests.support.waiting import async_wait_for

__all__ = ["REGISTRY", "create_namespace", "grant_runtime_role"]
T = TypeVar("T")


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
    """Poll ``check`` until it returns a truthy value (an AssertionError it raises counts as not yet)."""
    return await async_wait_for(check, timeout=within, interval=0.05, what=what, ignoring=(AssertionError,))
