"""``apply -f``: create or update by name from YAML or JSON, only what changed, ``--dry-run`` changes nothing,
and a second apply of the same file is a no-op (no PUT, so no rolling restart)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.support.paths import MCP_EXAMPLE, PYTHON

from .conftest import Cli, one_error_line

pytestmark = pytest.mark.slow


def manifest(path: Path, remote: str, replicas: int = 1, description: str = "adds") -> Path:
    path.write_text(textwrap.dedent(f"""\
        # most fields left to their defaults
        - name: apply-calc
          command: {PYTHON}
          args: ["{MCP_EXAMPLE}"]
          transport: streamable-http
          replicaCount: {replicas}
          description: {description}
          requiredRoles: [" mcp.engineer", "MCP.Engineer"]
        - name: apply-remote
          url: {remote}
        """))
    return path


def test_apply_is_idempotent_and_dry_run_changes_nothing(cli: Cli, remote_mcp: str, tmp_path: Path) -> None:
    file = manifest(tmp_path / "adapters.yaml", remote_mcp)
    dry = cli.ok("adapters", "apply", "-f", str(file), "--dry-run")
    assert dry.stdout.splitlines() == [
        "adapter/apply-calc would be created (dry run)",
        "adapter/apply-remote would be created (dry run)",
    ]
    assert cli.json("adapters", "list") == []

    first = cli.ok("adapters", "apply", "-f", str(file), "--wait")
    assert first.stdout.splitlines() == ["adapter/apply-calc created", "adapter/apply-remote created"]
    assert "adapter/apply-calc: Ready, 1/1 ready" in first.stderr
    stamp = cli.json("adapters", "get", "apply-calc")["lastUpdatedAt"]

    second = cli.json("adapters", "apply", "-f", str(file))
    assert second == [
        {"action": "unchanged", "fields": [], "kind": "adapters", "name": "apply-calc"},
        {"action": "unchanged", "fields": [], "kind": "adapters", "name": "apply-remote"},
    ]
    assert cli.json("adapters", "get", "apply-calc")["lastUpdatedAt"] == stamp  # no PUT happened

    changed = cli.ok("adapters", "apply", "-f", str(manifest(file, remote_mcp, 2, "sums")), "--wait")
    assert changed.stdout.splitlines() == [
        "adapter/apply-calc configured (description, replicaCount)",
        "adapter/apply-remote unchanged",
    ]
    assert "adapter/apply-calc: Ready, 2/2 ready" in changed.stderr
    assert cli.json("adapters", "status", "apply-calc")["readyReplicas"] == 2

    # What get prints applies as it is (the fields the gateway sets are dropped), from stdin too.
    exported = cli.ok("adapters", "get", "apply-calc", "-o", "yaml").stdout
    assert cli.ok("adapters", "apply", "-f", "-", stdin=exported).stdout == "adapter/apply-calc unchanged\n"
    as_json = cli.ok("adapters", "get", "apply-remote", "-o", "json").stdout
    assert cli.ok("adapters", "apply", "-f", "-", stdin=as_json).stdout == "adapter/apply-remote unchanged\n"
    cli.ok("adapters", "delete", "apply-calc", "apply-remote")


def test_apply_of_servers_from_json(cli: Cli, tmp_path: Path) -> None:
    cli.ok("adapters", "create", "member", "--url", "http://127.0.0.1:9/mcp")
    file = tmp_path / "server.json"
    file.write_text(json.dumps({"name": "team", "members": [{"adapter": "member", "include": ["get_*"]}]}))
    assert cli.ok("servers", "apply", "-f", str(file)).stdout == "server/team created\n"
    assert cli.ok("servers", "apply", "-f", str(file)).stdout == "server/team unchanged\n"
    file.write_text(json.dumps({"name": "team", "members": [{"adapter": "member"}], "toolSearch": "only"}))
    assert cli.ok("servers", "apply", "-f", str(file)).stdout == "server/team configured (members, toolSearch)\n"
    cli.ok("servers", "delete", "team")
    cli.ok("adapters", "delete", "member")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("- name: a\n  args: [unclosed\n", "is not valid YAML"),
        ('{"name": ', "is not valid JSON"),
        ("- command: x\n", "item 1 has no name"),
        ("- name: a\n  url: http://x\n- name: a\n  url: http://y\n", "a appear more than once"),
    ],
    ids=["yaml", "json", "no-name", "duplicate"],
)
def test_a_bad_file_is_a_usage_error_naming_the_file(cli: Cli, tmp_path: Path, text: str, line: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    result = cli.run("adapters", "apply", "-f", str(file))
    assert result.returncode == 2
    assert str(file) in one_error_line(result) and line in result.stderr


def test_a_server_side_refusal_names_the_resource_and_the_others_still_apply(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "mixed.yaml"
    file.write_text("- name: fine\n  url: http://127.0.0.1:9/mcp\n- name: broken\n  url: http://127.0.0.1:9/mcp\n"
                    "  replicas: 3\n")
    result = cli.run("adapters", "apply", "-f", str(file))
    assert result.returncode == 1
    assert result.stdout == "adapter/fine created\n"
    assert one_error_line(result) == (
        "mcp-gateway: adapter/broken: Invalid request: replicas: is not a known field (see the API reference); "
        "unknown fields are rejected"
    )
    cli.ok("adapters", "delete", "fine")
