"""Tool router settings, read from ``MCPGW_ROUTER__*`` environment variables.

The prefix is shared with the gateway's own ``router`` settings group on purpose: one
``MCPGW_ROUTER__SECRET`` configures both ends of the shared secret. The deployment environment comes from
the gateway's ``MCPGW_SERVER__ENVIRONMENT`` so both processes agree on what "production" means.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.netpolicy import AddressPolicy, check_nameserver

DEFAULT_CATALOG_URL = "http://127.0.0.1:8000/internal/tool-catalog"


def _default_port() -> int:
    # Container platforms (and the gateway's local runtime) hand the port over as PORT.
    return int(os.environ.get("PORT", "8000"))


class ToolRouterSettings(BaseSettings):
    """All tool router configuration; ``create_router_app`` takes one of these."""

    model_config = SettingsConfigDict(
        env_prefix="MCPGW_ROUTER__", extra="ignore", populate_by_name=True, validate_default=True
    )

    secret: SecretStr | None = None
    """Shared with the gateway; every MCP request must carry it as ``X-Gateway-Secret``."""
    catalog_url: str = DEFAULT_CATALOG_URL
    """The gateway's internal tool catalog endpoint (see docs/toolrouter.md)."""
    host: str = "127.0.0.1"
    port: int = Field(default_factory=_default_port, ge=0, le=65535)
    call_timeout_seconds: float = Field(default=30.0, gt=0)
    """Time-out of one tool call when the tool record sets none."""
    catalog_poll_seconds: float = Field(default=1.0, gt=0)
    catalog_timeout_seconds: float = Field(default=5.0, gt=0)
    max_response_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest tool reply read; a bigger one becomes an ``isError`` result."""
    upstream_list_seconds: float = Field(default=10.0, gt=0)
    """Time-out of fetching one adapter's list (tools, prompts, resources) for a virtual server."""
    upstream_list_cache_seconds: float = Field(default=30.0, ge=0)
    """How long an adapter's list is reused (per adapter, its urls and the caller); a new catalog drops it."""
    aggregate_adapters: bool = True
    """``/mcp`` also serves every readable adapter's tools (``{adapter}__{tool}``), prompts and resources;
    false: the registered tools only."""
    lean_path: bool = True
    """``/mcp`` answers ``tools/list``, ``tools/call``, ``resources/read`` and ``prompts/get`` itself
    (``toolrouter.lean``) rather than through the SDK's per-request session machinery; false: everything goes
    through the SDK (the same answers, at about twice the router's CPU per call)."""
    session_idle_timeout_seconds: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    access_log: bool = False
    """A log line per request. Off by default: the gateway logs every request it proxies here already."""
    environment: Literal["development", "production"] = Field(
        default="development", validation_alias="MCPGW_SERVER__ENVIRONMENT"
    )
    # Telemetry reads the gateway's MCPGW_TELEMETRY__* variables, so one setting configures both processes.
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="MCPGW_TELEMETRY__LOG_FORMAT")
    otlp_endpoint: str | None = Field(default=None, validation_alias="MCPGW_TELEMETRY__OTLP_ENDPOINT")
    """OTLP/HTTP traces endpoint; ``APPLICATIONINSIGHTS_CONNECTION_STRING`` selects Application Insights."""
    service_name: str = Field(default="mcp-gateway-toolrouter", validation_alias="MCPGW_ROUTER__SERVICE_NAME")
    metrics_enabled: bool = Field(default=True, validation_alias="MCPGW_TELEMETRY__METRICS_ENABLED")
    audit_arguments: bool = Field(
        default=False,
        validation_alias=AliasChoices("MCPGW_ROUTER__AUDIT_ARGUMENTS", "MCPGW_TELEMETRY__AUDIT_LOG_ARGUMENTS"),
    )
    """Record tool-call arguments in audit events (they may hold personal data)."""
    # The SSRF policy for ``url`` tools, the gateway's MCPGW_PROXY__* settings of the same names (either
    # prefix works, so one environment can configure both processes; the local runtime passes them on).
    allow_loopback_urls: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("MCPGW_ROUTER__ALLOW_LOOPBACK_URLS", "MCPGW_PROXY__ALLOW_LOOPBACK_URLS"),
    )
    """Let ``url`` tools reach loopback addresses. Unset: allowed in development, refused in production."""
    allow_private_urls: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("MCPGW_ROUTER__ALLOW_PRIVATE_URLS", "MCPGW_PROXY__ALLOW_PRIVATE_URLS"),
    )
    """Let ``url`` tools reach private networks. Unset: allowed in development, refused in production."""
    dns_servers: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("MCPGW_ROUTER__DNS_SERVERS", "MCPGW_PROXY__DNS_SERVERS"),
    )
    """Name servers for ``url`` tools' host names (JSON list, ``["10.0.0.10:53"]``); empty: the system resolver."""

    @field_validator("dns_servers")
    @classmethod
    def _check_dns_servers(cls, value: list[str]) -> list[str]:
        return [check_nameserver(server) for server in value]

    def url_policy(self) -> AddressPolicy:
        """The SSRF policy for ``url`` tools; unset flags follow the environment, as on the gateway. A router
        that was not told its environment refuses loopback and private targets: it fails closed rather
        than assume development (the local runtime passes both; a deployment must set the environment)."""
        told = "environment" in self.model_fields_set
        return AddressPolicy.for_environment(
            self.environment if told else "production",
            allow_loopback=self.allow_loopback_urls,
            allow_private=self.allow_private_urls,
        )

    @field_validator("secret")
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty variable (``MCPGW_ROUTER__SECRET=``) must not turn into "accept an empty header".
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @model_validator(mode="after")
    def _secret_required_in_production(self) -> ToolRouterSettings:
        if self.environment == "production" and self.secret is None:
            raise ValueError(
                "the tool router trusts X-Mcp-UserId / X-Mcp-Roles only from the gateway, so production "
                "needs MCPGW_ROUTER__SECRET (the same value the gateway sends as X-Gateway-Secret)."
            )
        return self
