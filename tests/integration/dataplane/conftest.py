"""A gateway process with sample adapters, shared by the data-plane tests of one module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON, SESSION_EXAMPLE
from tests.support.waiting import wait_for


def command_adapter(name: str, script: Path, replicas: int) -> dict[str, object]:
    return {
        "name": name,
        "command": PYTHON,
        "args": [str(script)],
        "transport": "streamable-http",
        "replicaCount": replicas,
        "requiredRoles": ["mcp.user"],
    }


def wait_healthy(gateway: GatewayProcess, name: str, replicas: int) -> None:
    client = gateway.client(roles="mcp.admin")

    def ready() -> bool:
        status = client.get(f"/adapters/{name}/status").json()
        return bool(status["readyReplicas"] == replicas and status["replicaStatus"] == "Healthy")

    wait_for(ready, timeout=60, what=f"{name} Healthy {replicas}/{replicas}")


@pytest.fixture(scope="module")
def probe() -> Iterator[UpstreamProbe]:
    """A scripted upstream (records requests, streams on command) for this module's tests."""
    upstream = UpstreamProbe().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def dataplane_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("dataplane")).start()
    admin = gateway.client(user="owner")
    for name, script, replicas in (("mcp-example", MCP_EXAMPLE, 2), ("sessions", SESSION_EXAMPLE, 3)):
        assert admin.post("/adapters", json=command_adapter(name, script, replicas)).status_code == 201
    for name, replicas in (("mcp-example", 2), ("sessions", 3)):
        wait_healthy(gateway, name, replicas)
    yield gateway
    gateway.stop()


