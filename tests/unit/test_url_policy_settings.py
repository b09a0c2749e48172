"""The SSRF policy settings: the gateway's MCPGW_PROXY__*, the router's, and what the gateway passes on to
the router processes it starts."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from gateway.netpolicy import AddressPolicy
from gateway.runtimes.factory import local_router_spec
from gateway.settings import GatewaySettings
from toolrouter.settings import ToolRouterSettings

POLICY_VARIABLES = [
    f"MCPGW_{prefix}__{name}"
    for prefix in ("PROXY", "ROUTER")
    for name in ("ALLOW_LOOPBACK_URLS", "ALLOW_PRIVATE_URLS", "DNS_SERVERS")
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*POLICY_VARIABLES, "MCPGW_SERVER__ENVIRONMENT"]:
        monkeypatch.delenv(name, raising=False)


def gateway_settings(**proxy: object) -> GatewaySettings:
    return GatewaySettings.model_validate({"proxy": proxy})


def test_development_allows_loopback_and_private_targets_production_refuses_them() -> None:
    settings = gateway_settings()
    assert settings.proxy.url_policy("development") == AddressPolicy(allow_loopback=True, allow_private=True)
    assert settings.proxy.url_policy("production") == AddressPolicy(allow_loopback=False, allow_private=False)


def test_explicit_settings_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPGW_PROXY__ALLOW_LOOPBACK_URLS", "false")
    monkeypatch.setenv("MCPGW_PROXY__ALLOW_PRIVATE_URLS", "true")
    monkeypatch.setenv("MCPGW_PROXY__DNS_SERVERS", '["10.0.0.10", "127.0.0.1:5353"]')
    settings = GatewaySettings()
    assert settings.proxy.url_policy("development") == AddressPolicy(allow_loopback=False, allow_private=True)
    assert settings.proxy.url_policy("production") == AddressPolicy(allow_loopback=False, allow_private=True)
    assert settings.proxy.dns_servers == ["10.0.0.10", "127.0.0.1:5353"]


def test_a_dns_server_that_is_not_an_address_fails_at_start_up() -> None:
    with pytest.raises(ValidationError, match="not a name server address"):
        gateway_settings(dns_servers=["dns.example.com"])


def test_the_router_reads_the_gateways_names_and_its_own_prefix_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPGW_SERVER__ENVIRONMENT", "development")
    monkeypatch.setenv("MCPGW_PROXY__ALLOW_PRIVATE_URLS", "false")
    monkeypatch.setenv("MCPGW_PROXY__DNS_SERVERS", '["10.0.0.10"]')
    assert ToolRouterSettings().url_policy() == AddressPolicy(allow_loopback=True, allow_private=False)
    assert ToolRouterSettings().dns_servers == ["10.0.0.10"]
    monkeypatch.setenv("MCPGW_ROUTER__ALLOW_PRIVATE_URLS", "true")
    assert ToolRouterSettings().url_policy() == AddressPolicy(allow_loopback=True, allow_private=True)


def test_a_router_not_told_its_environment_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ToolRouterSettings().url_policy() == AddressPolicy(allow_loopback=False, allow_private=False)
    monkeypatch.setenv("MCPGW_SERVER__ENVIRONMENT", "development")
    assert ToolRouterSettings().url_policy() == AddressPolicy(allow_loopback=True, allow_private=True)


@pytest.mark.parametrize(
    ("environment", "proxy", "expected"),
    [
        ("development", {}, AddressPolicy(True, True)),
        ("development", {"allow_loopback_urls": False}, AddressPolicy(False, True)),
        ("production", {"allow_private_urls": True}, AddressPolicy(False, True)),
    ],
)
def test_the_router_processes_get_the_gateways_resolved_policy_and_name_servers(
    monkeypatch: pytest.MonkeyPatch, environment: str, proxy: dict[str, object], expected: AddressPolicy
) -> None:
    settings = GatewaySettings.model_validate({"proxy": {**proxy, "dns_servers": ["127.0.0.1:5353"]}})
    # Production's other requirements (token auth, a router secret) do not matter here.
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"environment": environment})})
    env = local_router_spec(settings, "secret").env
    for name, value in env.items():  # what `python -m toolrouter` would see
        monkeypatch.setenv(name, value)
    router = ToolRouterSettings()
    assert router.url_policy() == expected
    assert router.dns_servers == ["127.0.0.1:5353"]
    assert json.loads(env["MCPGW_ROUTER__DNS_SERVERS"]) == ["127.0.0.1:5353"]
