"""ToolRouterSettings: environment variables, defaults and the production secret rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from toolrouter.settings import ToolRouterSettings


def test_settings_are_read_from_the_router_prefix_and_the_gateway_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCPGW_ROUTER__SECRET", "s3cret")
    monkeypatch.setenv("MCPGW_ROUTER__CATALOG_URL", "http://gw:8000/internal/tool-catalog")
    monkeypatch.setenv("MCPGW_ROUTER__CALL_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("MCPGW_ROUTER__REPLICAS", "3")  # the gateway's own setting: ignored here
    monkeypatch.setenv("MCPGW_SERVER__ENVIRONMENT", "production")
    monkeypatch.setenv("PORT", "9123")
    settings = ToolRouterSettings()
    assert settings.secret is not None and settings.secret.get_secret_value() == "s3cret"
    assert settings.catalog_url == "http://gw:8000/internal/tool-catalog"
    assert settings.call_timeout_seconds == 7.5
    assert settings.environment == "production"
    assert settings.port == 9123


def test_defaults_suit_a_local_development_router(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = ("SECRET", "PORT", "ACCESS_LOG")
    for name in ("MCPGW_SERVER__ENVIRONMENT", "PORT", *(f"MCPGW_ROUTER__{n}" for n in unset)):
        monkeypatch.delenv(name, raising=False)
    settings = ToolRouterSettings()
    assert (settings.host, settings.port, settings.environment) == ("127.0.0.1", 8000, "development")
    assert settings.catalog_url == "http://127.0.0.1:8000/internal/tool-catalog"
    assert (settings.call_timeout_seconds, settings.catalog_poll_seconds) == (30.0, 1.0)
    assert settings.secret is None
    assert settings.access_log is False


def test_production_without_a_secret_refuses_to_start_and_says_what_to_set() -> None:
    with pytest.raises(ValidationError, match="MCPGW_ROUTER__SECRET"):
        ToolRouterSettings(environment="production", secret=None)


def test_a_blank_secret_counts_as_no_secret() -> None:
    assert ToolRouterSettings(secret="  ").secret is None
    with pytest.raises(ValidationError, match="MCPGW_ROUTER__SECRET"):
        ToolRouterSettings(environment="production", secret="")


@pytest.mark.parametrize("field", ["aggregate_adapters", "lean_path"])
@pytest.mark.parametrize(("gateway_value", "router_env"), [(None, "true"), (False, "false")])
def test_a_router_switch_defaults_on_and_the_gateway_passes_its_own_setting_on(
    monkeypatch: pytest.MonkeyPatch, field: str, gateway_value: bool | None, router_env: str
) -> None:
    """``MCPGW_ROUTER__AGGREGATE_ADAPTERS`` and ``MCPGW_ROUTER__LEAN_PATH``: on unless set, and a local gateway
    hands its own value to the router processes it starts (they do not inherit its ``MCPGW_*`` variables)."""
    from gateway.runtimes.factory import local_router_spec
    from gateway.settings import GatewaySettings, RouterSettings

    variable = f"MCPGW_ROUTER__{field.upper()}"
    monkeypatch.delenv(variable, raising=False)
    assert getattr(ToolRouterSettings(), field) is True
    router = RouterSettings() if gateway_value is None else RouterSettings(**{field: gateway_value})
    env = local_router_spec(GatewaySettings(router=router), "secret").env
    assert env[variable] == router_env
    monkeypatch.setenv(variable, router_env)
    assert getattr(ToolRouterSettings(), field) is (router_env == "true")
