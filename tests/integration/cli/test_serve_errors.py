"""``mcp-gateway serve`` refuses a bad ``--log-level`` and malformed ``MCPGW_*`` variables with one line per
problem naming what to fix, exit code 2 and no traceback, before it binds anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import PYTHON, REPO
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCPGW_")}
    return subprocess.run(
        [PYTHON, "-m", "gateway", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**base, **env},
    )


@pytest.mark.parametrize(
    ("args", "env", "lines"),
    [
        ((), {"MCPGW_LOG_LEVEL": "shout"},
         ["mcp-gateway: MCPGW_LOG_LEVEL: expected one of critical, error, warning, info, debug, trace, got 'shout'"]),
        ((), {"MCPGW_SERVER__TRUSTED_PROXIES": "10.0.0.0/8"},
         ["mcp-gateway: MCPGW_SERVER__TRUSTED_PROXIES: expected a list such as [\"a\", \"b\"] in JSON, got "
          "'10.0.0.0/8'"]),
        ((), {"MCPGW_AUTH__AUDIENCE": "api://gateway", "MCPGW_AUTH__MODE": "oidc"},
         ["mcp-gateway: MCPGW_AUTH__AUDIENCE: expected a list such as [\"a\", \"b\"] in JSON, got 'api://gateway'"]),
        ((), {"MCPGW_SERVER": '{"port": '},
         ["mcp-gateway: MCPGW_SERVER: expected an object such as {\"key\": \"value\"} in JSON, got '{\"port\": '"]),
        ((), {"MCPGW_STORE__KIND": "postgres"},
         ["mcp-gateway: MCPGW_STORE__KIND: Input should be 'memory', 'sqlite' or 'cosmos'"]),
        ((), {"MCPGW_AUTH__MODE": "oidc", "MCPGW_SESSIONS__KIND": "redis"},
         ["mcp-gateway: MCPGW_AUTH__MODE=oidc needs MCPGW_AUTH__ISSUER and MCPGW_AUTH__AUDIENCE (a JSON list).",
          "mcp-gateway: MCPGW_SESSIONS__KIND=redis needs MCPGW_SESSIONS__REDIS_URL (redis://host:6379/0)."]),
    ],
    ids=["log-level-variable", "list-not-json", "audience-not-json", "group-not-json", "bad-choice", "two-problems"],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], lines: list[str]
) -> None:
    result = serve(tmp_path, *args, **env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == lines
    assert not (tmp_path / "data").exists()  # refused before it claimed anything


def test_a_bad_log_level_option_says_what_it_takes(tmp_path: Path) -> None:
    result = serve(tmp_path, "--log-level", "loud")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "mcp-gateway serve: error: argument --log-level: expected one of critical, error, warning, info, debug, "
        "trace, got 'loud'"
    )
    assert "Traceback" not in result.stderr
