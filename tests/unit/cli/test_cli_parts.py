"""The CLI's parts that need no gateway: where the gateway URL comes from, bodies from flags, --arg typing,
client configurations, targets, the configuration file, and --help with examples on every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from gateway.cli.app import cli, run
from gateway.cli.bodies import ServerFlags, ToolFlags, WorkloadFlags, adapter_body, server_body, tool_body
from gateway.cli.client_config import client_config
from gateway.cli.config import CliConfig, Context, load_config, save_config
from gateway.cli.connection import resolve_connection
from gateway.cli.errors import CliError
from gateway.cli.mcp_calls import client_mode, parse_arguments
from gateway.cli.targets import resolve_target

CONFIG = CliConfig("local", {
    "local": Context(gateway="http://127.0.0.1:8000", user="alice", roles=["mcp.admin"]),
    "prod": Context(gateway="https://gw.example.com", client_id="abc"),
})


@pytest.mark.parametrize(
    ("flags", "environ", "gateway", "user", "context"),
    [
        ({}, {}, "http://127.0.0.1:8000", "alice", "local"),
        ({"gateway": "http://other:9000/"}, {}, "http://other:9000", None, None),
        ({}, {"MCPGW_URL": "http://env:1"}, "http://env:1", None, None),
        ({"gateway": "http://flag:1"}, {"MCPGW_URL": "http://env:1"}, "http://flag:1", None, None),
        ({"context": "prod"}, {}, "https://gw.example.com", None, "prod"),
        ({}, {"MCPGW_CONTEXT": "prod"}, "https://gw.example.com", None, "prod"),
        ({"context": "local", "gateway": "http://flag:1"}, {}, "http://flag:1", "alice", "local"),
        ({"user": "bob"}, {}, "http://127.0.0.1:8000", "bob", "local"),
    ],
)
def test_where_the_gateway_and_identity_come_from(
    flags: dict[str, str], environ: dict[str, str], gateway: str, user: str | None, context: str | None
) -> None:
    connection = resolve_connection(CONFIG, environ=environ, **flags)
    assert (connection.gateway, connection.user, connection.context) == (gateway, user, context)


def test_defaults_and_bad_urls() -> None:
    assert resolve_connection(CliConfig(), environ={}).gateway == "http://127.0.0.1:8000"
    assert resolve_connection(CliConfig(), environ={}, roles="a, b").dev_headers() == {"X-Dev-Roles": "a,b"}
    with pytest.raises(CliError, match="--gateway: expected the gateway's base URL"):
        resolve_connection(CliConfig(), environ={}, gateway="localhost:8000")
    with pytest.raises(CliError, match="no context named 'nope'"):
        resolve_connection(CONFIG, environ={}, context="nope")


def test_the_configuration_file_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "mcp-gateway" / "config.yaml"
    save_config(CONFIG, path)
    assert load_config(path) == CONFIG
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    path.write_text("contexts:\n  x: {gateway: http://a, typo: 1}\n")
    with pytest.raises(CliError, match="context 'x' has unknown fields typo"):
        load_config(path)


def test_create_flags_become_bodies() -> None:
    flags = WorkloadFlags(command_line=("python3", "main.py", "--x"), transport="streamable-http", replicas=2,
                          env=("A=1", "B=x=y"), required_roles=("mcp.engineer",))
    assert adapter_body("calc", flags) == {
        "name": "calc", "command": "python3", "args": ["main.py", "--x"], "transport": "streamable-http",
        "replicaCount": 2, "environmentVariables": {"A": "1", "B": "x=y"}, "requiredRoles": ["mcp.engineer"],
    }
    assert adapter_body("img", WorkloadFlags(image="registry.io/team/tool:1.0")) == {
        "name": "img", "imageName": "registry.io/team/tool", "imageVersion": "1.0"}
    tool = tool_body("weather", WorkloadFlags(url="http://127.0.0.1:8002/score"),
                     ToolFlags(tool_description="Weather", input_schema='{"type":"object"}', port=8002))
    assert tool["toolDefinition"] == {"tool": {"name": "weather", "inputSchema": {"type": "object"},
                                               "description": "Weather"}, "port": 8002}
    assert server_body("s", ServerFlags(members=("adapter:gh=get_*, list_*", "tool:weather"), tool_search="only")) == {
        "name": "s", "members": [{"adapter": "gh", "include": ["get_*", "list_*"]}, {"tool": "weather"}],
        "toolSearch": "only"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: adapter_body("x", WorkloadFlags()), "give exactly one source"),
        (lambda: adapter_body("x", WorkloadFlags(url="http://a", image="b:1")), "give exactly one source"),
        (lambda: adapter_body("x", WorkloadFlags(image="noversion")), "--image 'noversion': expected NAME:TAG"),
        (lambda: adapter_body("x", WorkloadFlags(url="u", env=("NOVALUE",))), "--env 'NOVALUE': expected NAME=VALUE"),
        (lambda: server_body("s", ServerFlags(members=("github",))), "--member 'github': expected adapter:NAME"),
        (lambda: tool_body("t", WorkloadFlags(url="u"), ToolFlags(input_schema="[1]")), "expected a JSON object"),
    ],
)
def test_bad_create_flags(make: Any, message: str) -> None:
    with pytest.raises(CliError, match=message.replace("(", r"\(")):
        make()


def test_arguments_are_typed_by_the_schema_then_json() -> None:
    schema = {"properties": {"zip": {"type": "string"}, "n": {"type": "integer"}}}
    pairs = ("zip=01234", "n=5", "flag=true", "name=Paris", "list=[1,2]", "text=a=b")
    assert parse_arguments(pairs, '{"n": 1, "other": null}', schema) == {
        "zip": "01234", "n": 5, "other": None, "flag": True, "name": "Paris", "list": [1, 2], "text": "a=b"}
    assert client_mode("2025-11-25") == "legacy" and client_mode("2026-07-28") == "2026-07-28"


def test_targets() -> None:
    gw = "http://gw:8000"
    assert resolve_target("calc", gw).url == "http://gw:8000/adapters/calc/mcp"
    assert resolve_target("adapters/calc", gw).resource == "/adapters/calc"
    assert resolve_target("servers/team", gw).url == "http://gw:8000/servers/team/mcp"
    assert (resolve_target("/mcp", gw).url, resolve_target("/mcp", gw).label) == ("http://gw:8000/mcp", "mcp-gateway")
    assert resolve_target("https://x/mcp", gw).resource is None
    with pytest.raises(CliError):
        resolve_target("tools/weather", gw)


def test_client_configurations() -> None:
    targets = [resolve_target("calc", "https://gw"), resolve_target("/mcp", "https://gw")]
    assert client_config("vscode", targets, {}) == {"servers": {
        "calc": {"type": "http", "url": "https://gw/adapters/calc/mcp"},
        "mcp-gateway": {"type": "http", "url": "https://gw/mcp"}}}
    assert client_config("cursor", targets[:1], {"X-Dev-UserId": "a"}) == {"mcpServers": {
        "calc": {"url": "https://gw/adapters/calc/mcp", "headers": {"X-Dev-UserId": "a"}}}}
    assert client_config("claude", targets[1:], {}) == {"mcpServers": {"mcp-gateway": {
        "command": "npx", "args": ["-y", "mcp-remote", "https://gw/mcp", "--transport", "http-only"]}}}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", [p for p, c in _commands(cli) if not isinstance(c, click.Group) and p != ("serve",)],
                         ids=" ".join)
def test_every_command_has_help_with_examples(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*path, "--help"]) == 0
    assert "Examples:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["adapters", "get"]) == 2
    assert "Missing argument 'NAME'" in capsys.readouterr().err
    assert run(["adapters", "list", "-o", "xml"]) == 2
    assert run(["--version"]) == 0 and capsys.readouterr().out == "mcp-gateway 0.1.0\n"
