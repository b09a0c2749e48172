"""The MCP Inspector CLI (a third-party client, on Node) works through the gateway."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import node_tools

pytestmark = [pytest.mark.slow, pytest.mark.node]


def inspector(url: str, *args: str) -> dict[str, object]:
    tools = node_tools()
    env = {**os.environ, "PATH": f"{tools / 'node_modules' / '.bin'}:{os.environ['PATH']}", "HOME": str(tools)}
    command = [
        str(tools / "node_modules" / ".bin" / "inspector"),
        "--cli",
        url,
        "--transport",
        "http",
        "--header",
        "X-Dev-UserId: carol",
        "--header",
        "X-Dev-Roles: mcp.user",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, f"inspector exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return dict(json.loads(done.stdout))


def test_the_inspector_cli_lists_tools_through_the_gateway(dataplane_gateway: GatewayProcess) -> None:
    result = inspector(f"{dataplane_gateway.url}/adapters/mcp-example/mcp", "--method", "tools/list")
    assert [tool["name"] for tool in result["tools"]] == ["add"]  # type: ignore[attr-defined]


def test_the_inspector_cli_calls_a_tool_through_the_gateway(dataplane_gateway: GatewayProcess) -> None:
    result = inspector(
        f"{dataplane_gateway.url}/adapters/mcp-example/mcp",
        "--method",
        "tools/call",
        "--tool-name",
        "add",
        "--tool-arg",
        "a=2",
        "b=40",
    )
    assert result["content"] == [{"type": "text", "text": "42"}]
