"""Sessions and replicas of a ``command`` adapter run by the local runtime: affinity, spreading, and what
happens when a replica process dies. The processes are the point here, so the gateway is a real process
(the rest of the SDK-through-gateway tests run in process: test_sdk_through_gateway.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.integration.dataplane.conftest import wait_healthy
from tests.support.gateway_process import GatewayProcess
from tests.support.mcp_client import sdk_client as mcp_client
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


async def whoami_calls(url: str, calls: int) -> list[dict[str, object]]:
    async with mcp_client(url) as client:
        answers = []
        for _ in range(calls):
            result = await client.call_tool("whoami", {})
            answers.append(dict(result.structured_content or {}))
        return answers


async def test_every_call_of_a_session_lands_on_that_sessions_replica(dataplane_gateway: GatewayProcess) -> None:
    url = f"{dataplane_gateway.url}/adapters/sessions/mcp"
    sessions = await asyncio.gather(*(whoami_calls(url, 10) for _ in range(20)))
    for answers in sessions:
        assert len({a["replica"] for a in answers}) == 1, answers
        assert [a["sessionCalls"] for a in answers] == list(range(1, 11))
    spread = Counter(answers[0]["replica"] for answers in sessions)
    assert len(spread) == 3, f"new sessions should use every replica, got {spread}"


async def test_stateless_requests_are_spread_over_the_replicas(dataplane_gateway: GatewayProcess) -> None:
    async with mcp_client(f"{dataplane_gateway.url}/adapters/sessions/mcp", mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        replicas = {(await client.call_tool("whoami", {})).structured_content["replica"] for _ in range(30)}  # type: ignore[index]
    assert len(replicas) >= 2


async def test_a_session_whose_replica_died_gets_404_and_the_client_recovers(
    dataplane_gateway: GatewayProcess,
) -> None:
    url = f"{dataplane_gateway.url}/adapters/sessions/mcp"
    async with mcp_client(url) as client:
        replica = (await client.call_tool("whoami", {})).structured_content["replica"]  # type: ignore[index]
        pid = _replica_server_pid(dataplane_gateway, str(replica))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), what="the replica to die")
        with pytest.raises(MCPError, match="Session not found"):
            await client.call_tool("whoami", {})
    # The status may still say 3/3 for a moment after the kill: wait for the restarted process first.
    wait_for(lambda: _replica_server_pid_or_none(dataplane_gateway, str(replica)) not in (None, pid), what="a restart")
    wait_healthy(dataplane_gateway, "sessions", 3)
    async with mcp_client(url) as again:
        assert (await again.call_tool("whoami", {})).structured_content["sessionCalls"] == 1  # type: ignore[index]


async def test_new_sessions_avoid_a_replica_that_died_before_the_gateway_noticed(
    dataplane_gateway: GatewayProcess,
) -> None:
    url = f"{dataplane_gateway.url}/adapters/sessions/mcp"
    # The process first (an earlier test may have killed it just now), then the status that includes it.
    server = wait_for(lambda: _replica_server_pid_or_none(dataplane_gateway, "sessions-0"), what="sessions-0")
    wait_healthy(dataplane_gateway, "sessions", 3)
    guard = _parent_pid(server)
    # With its guard paused, the gateway learns of the death only from failed health probes (seconds):
    # meanwhile the replica is still listed as ready, and the balancer spreads new sessions over all three.
    os.kill(guard, signal.SIGSTOP)
    try:
        os.kill(server, signal.SIGKILL)
        wait_for(lambda: not pid_alive(server), what="the replica to die")
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(*(_initialize_async(client, url, f"user{i}") for i in range(30)))
    finally:
        os.kill(guard, signal.SIGCONT)
    # A refused connection carried nothing, so each request that met the dead replica went to a live one.
    assert answers == [200] * 30
    wait_healthy(dataplane_gateway, "sessions", 3)


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def _initialize_async(client: httpx.AsyncClient, url: str, user: str) -> int:
    headers = {"X-Dev-UserId": user, "X-Dev-Roles": "mcp.user", "Accept": "application/json, text/event-stream"}
    return (await client.post(url, json=INITIALIZE_BODY, headers=headers)).status_code


def _replica_server_pid(gateway: GatewayProcess, replica: str) -> int:
    pid = _replica_server_pid_or_none(gateway, replica)
    if pid is None:
        raise AssertionError(f"no process for replica {replica}")
    return pid


def _replica_server_pid_or_none(gateway: GatewayProcess, replica: str) -> int | None:
    """The live server process (not its guard) of a local replica."""
    assert gateway.process is not None
    for pid in descendants(gateway.process.pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        except OSError:
            continue
        ours = f"MCP_REPLICA_ID={replica}".encode() in environ and "gateway.runtimes.local.guard" not in cmdline
        if ours and pid_alive(pid):
            return pid
    return None


INITIALIZE_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
