"""``login`` and ``logout`` against a gateway in ``oidc`` mode and a real local OpenID provider with a device
authorization endpoint: the device-code flow, the token cache (0600), calls with the token, a refresh once the
token has expired, and the messages when there is no usable token."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.oidc_device import DeviceIssuer
from tests.support.oidc_issuer import TENANT_PATH
from tests.support.paths import PYTHON, REPO
from tests.support.servers import UvicornThread

from .conftest import Cli, one_error_line

pytestmark = pytest.mark.slow

CLIENT_ID = "mcp-gateway-cli-tests"


@pytest.fixture(scope="module")
def issuer() -> Iterator[DeviceIssuer]:
    provider = DeviceIssuer(interval=1)
    with UvicornThread(provider.app, lifespan="on", loop="asyncio") as running:
        provider.issuer = running.url + TENANT_PATH
        yield provider


@pytest.fixture(scope="module")
def gateway(issuer: DeviceIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {
        "MCPGW_AUTH__MODE": "oidc",
        "MCPGW_AUTH__ISSUER": issuer.issuer,
        "MCPGW_AUTH__AUDIENCE": '["api://gateway"]',
        "MCPGW_AUTH__SCOPES_SUPPORTED": '["api://gateway/access"]',
        "MCPGW_STORE__KIND": "memory",
    }
    started = GatewayProcess(tmp_path_factory.mktemp("cli-oidc"), env=env).start()
    yield started
    started.stop()


def login(cli: Cli, issuer: DeviceIssuer, approve: bool = True) -> subprocess.CompletedProcess[str]:
    """``mcp-gateway login`` as a person runs it: read the code it shows, enter it (approve or deny)."""
    process = subprocess.Popen(
        [PYTHON, "-m", "gateway", "login", "--client-id", CLIENT_ID],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
        env=cli.environment(),
    )
    assert process.stderr is not None
    shown = process.stderr.readline()
    assert shown.startswith(f"To sign in, open {issuer.issuer}/device and enter the code "), shown
    code = shown.rsplit(" ", 1)[1].strip()
    if approve:
        issuer.approve(code, oid="alice", preferred_username="alice@example.com")
    else:
        issuer.deny(code)
    stdout, stderr = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, shown + stderr)


def cached_token_file(cli: Cli) -> Path:
    (path,) = (cli.home / "mcp-gateway" / "tokens").glob("*.json")
    return path


def test_login_call_refresh_logout(cli: Cli, issuer: DeviceIssuer, remote_mcp: str) -> None:
    without = cli.run("adapters", "list")
    assert without.returncode == 4
    assert one_error_line(without).endswith("(the gateway wants a token: run mcp-gateway login)")

    result = login(cli, issuer)
    assert result.returncode == 0, result.stderr
    token_file = cached_token_file(cli)
    assert result.stdout == f"logged in to {cli.gateway} as alice@example.com (token cached in {token_file})\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((cli.home / "mcp-gateway").stat().st_mode) == 0o700
    cached = json.loads(token_file.read_text())
    assert cached["gateway"] == cli.gateway and cached["client_id"] == CLIENT_ID
    assert "offline_access" in cached["scope"] and "api://gateway/access" in cached["scope"]

    created = cli.json("adapters", "create", "echo", "--url", remote_mcp, "--wait")
    assert created["createdBy"] == "alice"
    assert cli.ok("call", "echo", "echo", "--arg", "text=with a token").stdout == "with a token\n"
    assert cli.ok("call", "echo", "echo", "--arg", "text=stateless", "--protocol", "2026-07-28").stdout == (
        "stateless\n"
    )

    # The token has expired: the next command refreshes it first, and the new one replaces it in the cache.
    cached["expires_at"] = time.time() - 5
    token_file.write_text(json.dumps(cached))
    refreshes = issuer.grants.count("refresh_token")
    assert [a["name"] for a in cli.json("adapters", "list")] == ["echo"]
    assert issuer.grants.count("refresh_token") == refreshes + 1
    renewed = json.loads(token_file.read_text())
    assert renewed["access_token"] != cached["access_token"] and renewed["expires_at"] > time.time() + 200
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # A refresh token the issuer no longer honours: one line saying what to do.
    token_file.write_text(json.dumps({**renewed, "expires_at": 0, "refresh_token": "revoked"}))
    expired = cli.run("adapters", "list")
    assert expired.returncode == 4
    assert one_error_line(expired) == (
        f"mcp-gateway: the login to {cli.gateway} has expired (unknown refresh token): run mcp-gateway login"
    )

    logout = cli.ok("logout")
    assert logout.stdout == f"logged out of {cli.gateway} (removed {token_file})\n"
    assert not token_file.exists()
    assert cli.run("adapters", "list").returncode == 4
    assert cli.ok("logout").stdout == f"not logged in to {cli.gateway}\n"


def test_a_denied_login_caches_nothing(cli: Cli, issuer: DeviceIssuer) -> None:
    result = login(cli, issuer, approve=False)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == "mcp-gateway: login failed: the user said no"
    tokens = cli.home / "mcp-gateway" / "tokens"
    assert not tokens.exists() or not list(tokens.iterdir())


def test_login_needs_a_client_id_and_a_token_gateway(cli: Cli, tmp_path: Path) -> None:
    no_client = cli.run("login")
    assert no_client.returncode == 2
    assert "needs a client id: mcp-gateway login --client-id ID" in one_error_line(no_client)

    dev = GatewayProcess(tmp_path / "dev").start()
    try:
        result = cli.run("login", "--client-id", CLIENT_ID, "--gateway", dev.url)
    finally:
        dev.stop()
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"mcp-gateway: {dev.url} uses development authentication: nothing to log in to (use --user and --roles)"
    )
