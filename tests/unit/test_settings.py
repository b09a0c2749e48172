"""Start-up validation of settings: bad combinations fail with a message naming what to set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings


def settings(**groups: object) -> GatewaySettings:
    return GatewaySettings.model_validate(groups)


def test_defaults_are_the_embedded_local_setup() -> None:
    s = settings()
    assert (s.store.kind, s.sessions.kind, s.runtime.kind, s.auth.mode) == ("sqlite", "memory", "local", "dev")
    assert s.server.host == "127.0.0.1" and s.dev_auth_allowed


@pytest.mark.parametrize(
    ("groups", "hint"),
    [
        ({"server": {"host": "0.0.0.0"}}, "MCPGW_AUTH__FORCE_DEV"),
        ({"auth": {"mode": "entra"}}, "MCPGW_AUTH__TENANT_ID"),
        ({"auth": {"mode": "oidc", "issuer": "https://id.example.com"}}, "MCPGW_AUTH__AUDIENCE"),
        ({"store": {"kind": "cosmos"}}, "MCPGW_COSMOS__ENDPOINT"),
        ({"sessions": {"kind": "redis"}}, "MCPGW_SESSIONS__REDIS_URL"),
        ({"server": {"environment": "production"}}, "MCPGW_AUTH__MODE"),
    ],
)
def test_bad_combinations_say_what_to_set(groups: dict[str, object], hint: str) -> None:
    with pytest.raises(ValidationError, match=hint):
        settings(**groups)


def test_forcing_dev_auth_on_a_public_bind_is_allowed_but_explicit() -> None:
    s = settings(server={"host": "0.0.0.0"}, auth={"force_dev": True})
    assert s.dev_auth_allowed


def test_settings_come_from_mcpgw_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPGW_STORE__KIND", "memory")
    monkeypatch.setenv("MCPGW_RUNTIME__KUBERNETES__NAMESPACE", "tools")
    monkeypatch.setenv("MCPGW_PROXY__ALLOWED_ORIGINS", '["https://portal.example.com"]')
    s = GatewaySettings()
    assert s.store.kind == "memory"
    assert s.runtime.kubernetes.namespace == "tools"
    assert s.proxy.allowed_origins == ["https://portal.example.com"]


def test_the_cli_reports_bad_settings_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.__main__ import main

    monkeypatch.setenv("MCPGW_SESSIONS__KIND", "redis")
    assert main(["serve", "--port", "0"]) == 2
    assert "MCPGW_SESSIONS__REDIS_URL" in capsys.readouterr().err
