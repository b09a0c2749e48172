"""Client configurations turned into adapter bodies: what is converted, and why the rest is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.cli.importer import Variables, convert_entry, detect_client, plan_import

HOME = Path("/home/ann")
VARIABLES = Variables(workspace=Path("/work/repo"), home=HOME, environ={"TOKEN": "t0k3n"})


@pytest.mark.parametrize(
    ("document", "path", "client"),
    [
        ({"servers": {}}, "mcp.json", "vscode"),
        ({"mcp": {"servers": {}}}, "settings.json", "vscode"),
        ({"mcpServers": {}}, "claude_desktop_config.json", "claude"),
        ({"mcpServers": {}}, "mcp.json", "cursor"),
        ({"name": "x"}, "package.json", None),
        ([], "mcp.json", None),
    ],
)
def test_detect_client(document: Any, path: str, client: str | None) -> None:
    assert detect_client(document, Path(path)) == client


@pytest.mark.parametrize(
    ("entry", "body"),
    [
        ({"command": "npx", "args": ["-y", "pkg"], "env": {"A": "1", "N": 2}},
         {"command": "npx", "args": ["-y", "pkg"], "transport": "stdio", "environmentVariables": {"A": "1", "N": "2"}}),
        ({"type": "stdio", "command": "node", "args": ["${workspaceFolder}/dist/index.js", "${userHome}/x"],
          "env": {"KEY": "${env:TOKEN}"}},
         {"command": "node", "args": ["/work/repo/dist/index.js", "/home/ann/x"], "transport": "stdio",
          "environmentVariables": {"KEY": "t0k3n"}}),
        ({"type": "http", "url": "https://mcp.example.com/mcp"}, {"url": "https://mcp.example.com/mcp"}),
        ({"type": "sse", "url": "https://mcp.example.com/events"},
         {"url": "https://mcp.example.com/events", "transport": "sse"}),
        ({"url": "https://mcp.example.com/sse"}, {"url": "https://mcp.example.com/sse", "transport": "sse"}),
        ({"url": "https://mcp.example.com/mcp"}, {"url": "https://mcp.example.com/mcp"}),
    ],
    ids=["stdio", "variables", "http", "sse", "cursor-sse-url", "cursor-url"],
)
def test_entries_become_adapter_bodies(entry: dict[str, Any], body: dict[str, Any]) -> None:
    assert convert_entry(entry, VARIABLES)[0] == body


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"command": "x", "env": {"K": "${input:api-key}"}}, "uses ${input:api-key}, a value the client asks for"),
        ({"command": "x", "args": ["${env:MISSING}"]}, "uses ${env:MISSING} and MISSING is not set in this shell"),
        ({"command": "x", "args": ["${command:pick}"]}, "uses ${command:pick}, which the CLI cannot resolve"),
        ({"type": "http", "url": "https://x/mcp", "headers": {"Authorization": "b", "X-Key": "k"}},
         "sends headers (Authorization, X-Key) that the gateway cannot send to a url adapter"),
        ({"type": "http"}, "is an http server without a url"),
        ({"url": "ftp://x/mcp"}, "has url 'ftp://x/mcp', which is not an http(s) URL"),
        ({"type": "websocket", "url": "ws://x"}, "has type 'websocket'; only stdio, http and sse servers"),
        ({"command": "x", "disabled": True}, "is disabled in the client's configuration"),
        ({"args": ["x"]}, "has neither a command nor a url"),
        ({"command": ["x"]}, "has a command that is not a string"),
        ("npx server", "is not an object describing a server"),
    ],
)
def test_what_cannot_run_behind_the_gateway_is_skipped_with_the_reason(entry: Any, reason: str) -> None:
    plan = plan_import({"mcpServers": {"entry": entry}}, "cursor", VARIABLES, "mcp.json")
    assert plan.adapters == []
    assert [(s.label, s.reason[: len(reason)]) for s in plan.skipped] == [("entry", reason)]


def test_a_plan_names_renames_and_notes() -> None:
    document = {
        "servers": {
            "My Server": {"command": "x", "cwd": "/srv", "envFile": ".env", "gallery": True},
            "my-server": {"url": "https://a/mcp"},
        }
    }
    plan = plan_import(document, "vscode", VARIABLES, "mcp.json", required_roles=["mcp.engineer"])
    first, second = plan.adapters
    assert (first.name, second.name) == ("my-server", "my-server-2")
    assert first.body["description"] == "Imported from mcp.json (My Server)"
    assert first.body["requiredRoles"] == ["mcp.engineer"]
    assert first.notes == [
        "named my-server (gateway names are lowercase letters, digits and dashes)",
        "ignored 'gallery'",
        "ignored cwd '/srv': the gateway runs commands in its own working directory",
        "ignored envFile '.env': put its variables in env",
    ]
    assert second.notes == ["named my-server-2 (gateway names are lowercase letters, digits and dashes)"]


def test_the_workspace_is_the_folder_holding_dot_vscode(tmp_path: Path) -> None:
    file = tmp_path / "repo" / ".vscode" / "mcp.json"
    assert Variables.for_file(file, {}).workspace == (tmp_path / "repo").resolve()
    assert Variables.for_file(tmp_path / "claude_desktop_config.json", {}).workspace is None
