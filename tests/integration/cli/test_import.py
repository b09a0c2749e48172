"""``import FILE`` of each client's configuration into a real gateway (the plan first, ``--yes`` applies, a second
import changes nothing), then the imported servers answer through the gateway; and ``client-config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cli, one_error_line

pytestmark = pytest.mark.slow

TIME_SERVER = {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"]}
"""A real third-party stdio server (PyPI), on the PATH the local runtime gives its children."""


def write(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def test_vscode_mcp_json(cli: Cli, remote_mcp: str, tmp_path: Path) -> None:
    file = write(tmp_path / "workspace" / ".vscode" / "mcp.json", {
        "inputs": [{"type": "promptString", "id": "github-token", "password": True}],
        "servers": {
            "Time Zone": {"type": "stdio", **TIME_SERVER, "env": {"HOME_DIR": "${workspaceFolder}/home"}},
            "github": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${input:github-token}"}},
            "echo": {"type": "http", "url": remote_mcp},
            "private": {"type": "http", "url": remote_mcp, "headers": {"Authorization": "Bearer secret"}},
        },
    })
    plan = cli.ok("import", str(file), "--dry-run")
    assert plan.stdout.splitlines()[:4] == [
        f"Import plan for {file} (vscode):",
        "NAME       FROM       ACTION  TRANSPORT        SOURCE",
        "time-zone  Time Zone  create  stdio            mcp-server-time --local-timezone UTC",
        f"echo       echo       create  streamable-http  {remote_mcp}",
    ]
    assert "  note: Time Zone: named time-zone (gateway names are lowercase letters, digits and dashes)" in plan.stdout
    assert "  skipped: github: uses ${input:github-token}, a value the client asks for when the server starts" in (
        plan.stdout
    )
    assert "  skipped: private: sends headers (Authorization) that the gateway cannot send to a url adapter" in (
        plan.stdout
    )
    assert cli.json("adapters", "list") == []

    refused = cli.run("import", str(file))  # no terminal to ask on, no --yes
    assert refused.returncode == 2 and "pass --yes to apply" in one_error_line(refused)

    applied = cli.ok("import", str(file), "--yes", "--wait")
    assert applied.stdout.splitlines()[-2:] == ["adapter/time-zone created", "adapter/echo created"]
    imported = {a["name"]: a for a in cli.json("adapters", "list")}
    workspace = str(file.parent.parent.resolve())
    assert imported["time-zone"]["environmentVariables"] == {"HOME_DIR": f"{workspace}/home"}
    assert imported["time-zone"]["description"] == "Imported from mcp.json (Time Zone)"

    again = cli.json("import", str(file), "--yes")
    assert [(a["name"], a["action"]) for a in again["adapters"]] == [("time-zone", "unchanged"), ("echo", "unchanged")]
    assert [s["from"] for s in again["skipped"]] == ["github", "private"]

    now = cli.json("call", "time-zone", "get_current_time", "--arg", "timezone=UTC")
    assert now["isError"] is False and '"timezone": "UTC"' in now["content"][0]["text"]
    assert cli.ok("call", "echo", "echo", "--arg", "text=42").stdout == "42\n"  # a string property stays a string
    cli.ok("adapters", "delete", "time-zone", "echo")


def test_claude_desktop_config(cli: Cli, tmp_path: Path) -> None:
    file = write(tmp_path / "claude_desktop_config.json", {
        "mcpServers": {
            "time": {**TIME_SERVER, "env": {"TZ": "UTC"}},
            "broken": {"command": "npx", "env": {"DEBUG": True}},
        },
        "globalShortcut": "Ctrl+Space",
    })
    result = cli.ok("import", str(file), "--yes", "--wait")
    assert f"Import plan for {file} (claude):" in result.stdout
    assert "  skipped: broken: has env DEBUG that is not a string" in result.stdout
    assert "adapter/time: Ready, 1/1 ready" in result.stderr
    tools = cli.json("tools-of", "time")
    assert {tool["name"] for tool in tools} == {"get_current_time", "convert_time"}
    cli.ok("adapters", "delete", "time")


def test_cursor_mcp_json(cli: Cli, remote_mcp: str, tmp_path: Path) -> None:
    file = write(tmp_path / ".cursor" / "mcp.json", {
        "mcpServers": {
            "remote-echo": {"url": remote_mcp},
            "old-sse": {"url": "http://127.0.0.1:9/sse"},
            "off": {"url": remote_mcp, "disabled": True},
        },
    })
    document = cli.json("import", str(file), "--dry-run")
    assert document["client"] == "cursor" and document["applied"] is False
    assert [(a["name"], a["body"].get("transport")) for a in document["adapters"]] == [
        ("remote-echo", None), ("old-sse", "sse"),
    ]
    assert document["skipped"] == [{"from": "off", "reason": "is disabled in the client's configuration"}]
    cli.ok("import", str(file), "--yes", "--required-role", "mcp.engineer")
    assert cli.json("adapters", "get", "remote-echo")["requiredRoles"] == ["mcp.engineer"]
    assert cli.ok("call", "remote-echo", "echo", "--json", '{"text": "hi"}').stdout == "hi\n"
    cli.ok("adapters", "delete", "remote-echo", "old-sse")


def test_a_file_that_is_no_client_configuration_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    file = write(tmp_path / "package.json", {"name": "x", "dependencies": {}})
    result = cli.run("import", str(file))
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"mcp-gateway: {file} is not an MCP client configuration: expected \"servers\" (VS Code) or "
        "\"mcpServers\" (Claude Desktop, Cursor)"
    )


def test_client_config_points_each_client_at_the_gateway(cli: Cli) -> None:
    vscode = json.loads(cli.ok("client-config").stdout)
    assert vscode == {"servers": {"mcp-gateway": {"type": "http", "url": f"{cli.gateway}/mcp"}}}
    cursor = json.loads(cli.ok("client-config", "--format", "cursor", "calc", "--user", "alice").stdout)
    assert cursor == {"mcpServers": {"calc": {"url": f"{cli.gateway}/adapters/calc/mcp",
                                              "headers": {"X-Dev-UserId": "alice"}}}}
    claude = json.loads(cli.ok("client-config", "--format", "claude", "servers/team").stdout)
    assert claude == {"mcpServers": {"team": {"command": "npx", "args": [
        "-y", "mcp-remote", f"{cli.gateway}/servers/team/mcp", "--transport", "http-only", "--allow-http",
    ]}}}
