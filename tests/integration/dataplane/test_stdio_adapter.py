"""A stdio MCP server run as a ``command`` adapter: the local runtime bridges it, the gateway proxies it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.mcp_client import sdk_client as mcp_client
from tests.support.paths import PYTHON, REPO
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
STDIO_SERVER = REPO / "tests" / "integration" / "bridge" / "stdio_fixture.py"


@pytest.fixture(scope="module")
def stdio_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("stdio")).start()
    client = gateway.client(user="carol")
    adapter = {"name": "stdio-server", "command": PYTHON, "args": [str(STDIO_SERVER)], "replicaCount": 1}
    created = client.post("/adapters", json=adapter)
    assert created.status_code == 201 and created.json()["transport"] is None  # stdio is the default
    wait_for(
        lambda: client.get("/adapters/stdio-server/status").json()["replicaStatus"] == "Healthy",
        timeout=60,
        what="the bridged stdio server",
    )
    yield gateway
    gateway.stop()


async def test_a_stdio_server_behind_the_bridge_is_reachable_through_the_gateway(stdio_gateway: GatewayProcess) -> None:
    async with mcp_client(f"{stdio_gateway.url}/adapters/stdio-server/mcp", roles="") as client:
        assert (await client.call_tool("add", {"a": 20, "b": 22})).content[0].text == "42"  # type: ignore[union-attr]


async def test_a_discover_probe_to_a_session_era_server_falls_back_to_initialize(
    stdio_gateway: GatewayProcess,
) -> None:
    """The bridge answers ``server/discover`` with 400; passed through, it makes the SDK client fall back."""
    async with mcp_client(f"{stdio_gateway.url}/adapters/stdio-server/mcp", roles="", mode="auto") as client:
        assert client.protocol_version == "2025-11-25"
        assert {t.name for t in (await client.list_tools()).tools} >= {"add", "count_with_progress"}
