"""A virtual server used as users use one: a real gateway process with its real tool router process
(``MCPGW_ROUTER__REPLICAS=1``, the local runtime starts it), three members of three kinds, and real clients on
``/servers/{name}/mcp``.

Members: the sample MCP server (sample-servers/mcp-example) as a streamable-HTTP ``command`` adapter,
``mcp-server-time`` (PyPI, installed in the venv) as a **stdio** adapter (the gateway's bridge), and the sample
weather tool (sample-servers/tool-example, on a thread) as a registered HTTP tool. Clients: the official SDK
client in both protocol eras, and the MCP Inspector CLI (Node; skipped without scripts/install-node-tools.sh,
failed under CI=true).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.integration.dataplane.conftest import command_adapter, wait_healthy
from tests.support.gateway_process import GatewayProcess
from tests.support.inprocess import sample_module, serve
from tests.support.mcp_client import sdk_client
from tests.support.paths import MCP_EXAMPLE, PYTHON, TOOL_EXAMPLE, node_tools
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import async_wait_for, wait_for

pytestmark = pytest.mark.slow

SERVER = "dev-tools"
TIME = str(Path(PYTHON).with_name("mcp-server-time"))
CAROL = {"user": "carol", "roles": "mcp.user,mcp.time"}
"""May read every member (the time adapter needs ``mcp.time``)."""
DAVE = {"user": "dave", "roles": "mcp.user"}
"""May read the server, the calculator and the weather tool, not the time adapter."""
ERAS = ["legacy", "2026-07-28"]
ALL_TOOLS = ["calculator__add", "time__get_current_time", "weather"]
WEATHER_TOOL = {
    "name": "weather",
    "description": "Gets the current weather for a specified location.",
    "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@pytest.fixture(scope="module")
def weather_url() -> Iterator[str]:
    with serve(sample_module(TOOL_EXAMPLE).app) as server:
        yield f"{server.url}/score"


@pytest.fixture(scope="module")
def gateway(weather_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("vs-real"), env={"MCPGW_ROUTER__REPLICAS": "1"}).start()
    try:
        owner = gateway.client(user="owner")
        calculator = command_adapter("calculator", MCP_EXAMPLE, 1)
        time_adapter = {"name": "time", "command": TIME, "args": ["--local-timezone", "UTC"],
                        "requiredRoles": ["mcp.time"]}
        weather = {"name": "weather", "url": weather_url, "requiredRoles": ["mcp.user"],
                   "toolDefinition": {"tool": WEATHER_TOOL}}
        for path, body in (("/adapters", calculator), ("/adapters", time_adapter), ("/tools", weather)):
            created = owner.post(path, json=body)
            assert created.status_code == 201, created.text
        wait_healthy(gateway, "calculator", 1)
        wait_healthy(gateway, "time", 1)
        server = {
            "name": SERVER,
            "description": "Tools for the dev team",
            "requiredRoles": ["mcp.user"],
            "members": [
                {"adapter": "calculator"},
                {"adapter": "time", "exclude": ["convert_time"]},
                {"tool": "weather"},
            ],
        }
        created = owner.post("/servers", json=server)
        assert created.status_code == 201, created.text
        yield gateway
    finally:
        gateway.stop()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def listed(gateway: GatewayProcess, mode: str, user: str, roles: str) -> list[str]:
    async with sdk_client(f"{gateway.url}/servers/{SERVER}/mcp", user=user, roles=roles, mode=mode) as client:
        return sorted(tool.name for tool in (await client.list_tools()).tools)


async def wait_listed(gateway: GatewayProcess, mode: str, user: str, roles: str, expected: list[str]) -> list[str]:
    """The router starts with the gateway and polls the catalog every second: wait until it lists the server."""

    async def condition() -> list[str] | None:
        names = await listed(gateway, mode, user, roles)
        return names if names == expected else None

    return await async_wait_for(condition, timeout=30, interval=0.3, ignoring=(Exception,),
                                what=f"{user} to list {expected} (log: {gateway.log_path})")


@pytest.mark.parametrize("mode", ERAS)
async def test_the_sdk_client_lists_and_calls_every_kind_of_member(gateway: GatewayProcess, mode: str) -> None:
    assert await wait_listed(gateway, mode, **CAROL, expected=ALL_TOOLS) == ALL_TOOLS
    async with sdk_client(f"{gateway.url}/servers/{SERVER}/mcp", mode=mode, **CAROL) as client:
        added = await client.call_tool("calculator__add", {"a": 2, "b": 40})
        now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
        weather = await client.call_tool("weather", {"location": "Paris"})
    assert not added.is_error and text_of(added) == "42"
    assert not now.is_error and json.loads(text_of(now))["timezone"] == "UTC"
    assert not weather.is_error and '"temperature"' in text_of(weather).replace(" ", ""), text_of(weather)


@pytest.mark.parametrize("mode", ERAS)
async def test_a_user_without_the_adapters_role_neither_sees_nor_calls_its_tools(
    gateway: GatewayProcess, mode: str
) -> None:
    expected = ["calculator__add", "weather"]
    assert await wait_listed(gateway, mode, **DAVE, expected=expected) == expected
    async with sdk_client(f"{gateway.url}/servers/{SERVER}/mcp", mode=mode, **DAVE) as client:
        refused = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
        allowed = await client.call_tool("calculator__add", {"a": 1, "b": 1})
    assert refused.is_error
    assert text_of(refused) == (
        "Tool 'time__get_current_time' not found, or you do not have permission to call it."
    )
    assert not allowed.is_error and text_of(allowed) == "2"


@pytest.mark.parametrize("mode", ERAS)
async def test_an_excluded_tool_cannot_be_called_by_name(gateway: GatewayProcess, mode: str) -> None:
    await wait_listed(gateway, mode, **CAROL, expected=ALL_TOOLS)
    async with sdk_client(f"{gateway.url}/servers/{SERVER}/mcp", mode=mode, **CAROL) as client:
        result = await client.call_tool(
            "time__convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"}
        )
    assert result.is_error
    assert text_of(result) == "Tool 'time__convert_time' not found, or you do not have permission to call it."


def inspector(url: str, *args: str) -> dict[str, Any]:
    tools = node_tools()
    env = {**os.environ, "PATH": f"{tools / 'node_modules' / '.bin'}:{os.environ['PATH']}", "HOME": str(tools)}
    command = [str(tools / "node_modules" / ".bin" / "inspector"), "--cli", url, "--transport", "http",
               "--header", f"X-Dev-UserId: {CAROL['user']}", "--header", f"X-Dev-Roles: {CAROL['roles']}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, f"inspector exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return dict(json.loads(done.stdout))


@pytest.mark.node
async def test_the_inspector_cli_lists_and_calls_through_the_virtual_server(gateway: GatewayProcess) -> None:
    node_tools()  # skip (or fail under CI) before waiting when the Inspector is missing
    await wait_listed(gateway, "legacy", **CAROL, expected=ALL_TOOLS)
    url = f"{gateway.url}/servers/{SERVER}/mcp"
    listing = inspector(url, "--method", "tools/list")
    assert sorted(tool["name"] for tool in listing["tools"]) == ALL_TOOLS
    result = inspector(url, "--method", "tools/call", "--tool-name", "calculator__add", "--tool-arg", "a=2", "b=40")
    assert result["content"] == [{"type": "text", "text": "42"}]


def _router_pids(gateway: GatewayProcess) -> list[int]:
    assert gateway.process is not None
    found = []
    for pid in descendants(gateway.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        # The router's own process, not the local runtime's guard around it (whose command line names it too).
        if b"-m toolrouter" in cmdline and b"gateway.runtimes.local.guard" not in cmdline and pid_alive(pid):
            found.append(pid)
    return found


async def test_the_loss_of_the_router_replica_ends_sessions_and_clients_recover(gateway: GatewayProcess) -> None:
    """Last in the module: it kills the router. A handshake-era session lived in that replica: its next request
    is a 404 (the SDK's "Session not found"), as for an adapter's replica; a new session, and any 2026-07-28
    request, work again once the local runtime has restarted the router."""
    await wait_listed(gateway, "legacy", **CAROL, expected=ALL_TOOLS)
    url = f"{gateway.url}/servers/{SERVER}/mcp"
    (pid,) = _router_pids(gateway)
    async with sdk_client(url, mode="legacy", **CAROL) as client:
        assert text_of(await client.call_tool("calculator__add", {"a": 1, "b": 2})) == "3"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), what="the router to die")
        with pytest.raises(MCPError, match="Session not found"):
            await client.call_tool("calculator__add", {"a": 1, "b": 2})
    wait_for(lambda: [p for p in _router_pids(gateway) if p != pid], 60, what="the router restarted")
    for mode in ERAS:
        assert await wait_listed(gateway, mode, **CAROL, expected=ALL_TOOLS) == ALL_TOOLS
        async with sdk_client(url, mode=mode, **CAROL) as client:
            assert text_of(await client.call_tool("calculator__add", {"a": 20, "b": 22})) == "42"
