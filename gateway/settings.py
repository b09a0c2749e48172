"""Gateway settings: one pydantic group per seam, read from ``MCPGW_*`` environment variables.

Nested groups use ``__`` (``MCPGW_STORE__KIND=sqlite``, ``MCPGW_RUNTIME__KUBERNETES__NAMESPACE=adapter``).
Lists are JSON (``MCPGW_PROXY__ALLOWED_ORIGINS='["https://portal.example.com"]'``).
Every cross-field rule lives in :meth:`GatewaySettings.check_consistency` so a bad combination fails at
start-up with a message that names the variable to set.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.loopback import is_loopback_host
from gateway.names import WORKLOAD_SERVICE_ACCOUNT
from gateway.netpolicy import AddressPolicy, check_nameserver

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(entries: list[str]) -> tuple[IPNetwork, ...]:
    """``10.0.1.0/24``, ``10.0.0.7`` or ``::1`` each; raises ValueError naming a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


_SECRET_HOLDER = ConfigDict(hide_input_in_errors=True)
"""For the models that hold a secret: their errors never show the input, even validated on their own."""


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".mcp-gateway")
    environment: Literal["development", "production"] = "development"
    public_url: str | None = None
    """Externally visible base URL (``https://gw.example.com``); defaults to the request's own origin."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest control-plane request body accepted (413 above it)."""
    access_log: bool = True
    """One log line per HTTP request (uvicorn's access log, at info). Behind a load balancer that keeps its
    own access log, turning it off saves a measurable share of the gateway's CPU per proxied call
    (docs/benchmarks.md)."""

    # Slow and oversized requests (gateway/server.py). uvicorn bounds none of these by itself.
    max_header_bytes: int = Field(default=65_536, ge=1024)
    """Largest request head (request line plus headers); 431 above it. It bounds the memory a request
    that never finishes its head can hold."""
    max_header_line_bytes: int = Field(default=16_384, ge=256)
    """Largest single header (name plus value), 431 above it, or request target, 414 above it. Entra
    access tokens with many claims reach about 8 KiB."""
    max_headers: int = Field(default=100, ge=8)
    """Most headers in one request; 431 above it."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """The request head must arrive whole within this time, counted from its first byte (or from the
    connection's opening); 408 otherwise (slowloris). Checked once a second."""
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    """The request body must arrive within this time plus one second per ``body_min_bytes_per_second``
    bytes received; 408 otherwise. The clock stops while the gateway itself is not reading."""
    body_min_bytes_per_second: int = Field(default=1024, ge=1)
    max_connections_per_client: int = Field(default=256, ge=0)
    """Open connections one client address (an IPv6 /64) may hold; the extra ones are answered 429. The
    address is the TCP peer: behind a load balancer or proxy that is the proxy, so size this for it or
    set 0 (no cap) and limit clients at the proxy."""

    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    """On SIGTERM: how long requests in flight may still finish (open GET event streams end at once).
    After it, a request still waiting is answered 503 with a JSON-RPC error and an event stream ends
    cleanly. Kubernetes' terminationGracePeriodSeconds must exceed it (infra/components/manifests.py)."""

    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or CIDR networks of the proxies in front of the gateway (JSON list, e.g. the Application
    Gateway's subnet ``["10.0.2.0/24"]``). Only from these is ``X-Forwarded-For`` / ``X-Forwarded-Proto``
    believed (``gateway.edge``); by default no one is, and the client is the TCP peer."""

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        parse_trusted_proxies(value)  # raises ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def check_header_limits(self) -> ServerSettings:
        if self.max_header_line_bytes > self.max_header_bytes:
            raise ValueError(
                "MCPGW_SERVER__MAX_HEADER_LINE_BYTES may not exceed MCPGW_SERVER__MAX_HEADER_BYTES "
                "(one header is part of the whole head)."
            )
        return self


class CosmosSettings(BaseModel):
    model_config = _SECRET_HOLDER

    endpoint: str | None = None
    key: SecretStr | None = None
    """Account key for development and the emulator; empty means DefaultAzureCredential."""
    database: str = "mcpgateway"
    adapters_container: str = "adapters"
    tools_container: str = "tools"
    servers_container: str = "servers"
    """Virtual servers (``/servers``)."""
    sessions_container: str = "sessions"
    create_if_missing: bool = True
    verify_tls: bool = True


class StoreSettings(BaseModel):
    kind: Literal["memory", "sqlite", "cosmos"] = "sqlite"
    sqlite_path: Path | None = None
    """Defaults to ``<data_dir>/gateway.db``."""
    record_cache_seconds: float | None = Field(default=None, ge=0)
    """How long the data plane may reuse an adapter record it read (``gateway.stores.recent``): changes
    made through another gateway replica take effect within this time. Unset: 0 (exact) for memory and
    SQLite, whose reads are local, and 2 s for Cosmos DB, where each read is a round trip and a request unit."""

    @property
    def record_max_age(self) -> float:
        if self.record_cache_seconds is not None:
            return self.record_cache_seconds
        return 2.0 if self.kind == "cosmos" else 0.0


SEAL_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
SEAL_KEY_BYTES = 32


def parse_seal_keys(value: str) -> list[tuple[str, bytes]]:
    """``id:key[,id:key...]`` (keys: 32 bytes, base64 or base64url) -> the keyring, the first key sealing.
    Raises ValueError naming what is wrong, never echoing a key."""
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate(part.strip() for part in value.split(",") if part.strip()):
        kid, separator, encoded = item.partition(":")
        if not separator or not SEAL_KEY_ID_RE.fullmatch(kid):
            raise ValueError(f"key {position + 1}: expected 'id:key' with an id of 1 to 16 letters, digits, '_' or '-'")
        try:
            standard = encoded.replace("-", "+").replace("_", "/")
            key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key '{kid}' is not base64") from None
        if len(key) != SEAL_KEY_BYTES:
            raise ValueError(f"key '{kid}' must be {SEAL_KEY_BYTES} bytes (AES-256), got {len(key)}")
        if kid in {k for k, _ in keys}:
            raise ValueError(f"key id '{kid}' is used twice")
        keys.append((kid, key))
    if not keys:
        raise ValueError("expected at least one 'id:key'")
    return keys


class SessionSettings(BaseModel):
    model_config = _SECRET_HOLDER

    kind: Literal["memory", "redis", "cosmos"] = "memory"
    redis_url: SecretStr | None = None
    key_prefix: str = "mcpgw"
    idle_timeout_seconds: int = Field(default=3600, ge=1)
    max_lifetime_seconds: int = Field(default=86_400, ge=1)
    max_sessions: int = Field(default=100_000, ge=1)
    sealed: bool = True
    """Hand clients sealed session ids (``gateway.proxy.sealed``): any gateway replica routes them with no
    store read, and ``kind`` is not used for routing. False: the store maps each id to its replica."""
    seal_keys: SecretStr | None = None
    """``id:key[,id:key...]`` (32-byte keys, base64); the first seals, all open. Unset: a key made at start,
    which suits one gateway replica (ids do not outlive it, nor do its local replicas' sessions)."""

    @field_validator("seal_keys")
    @classmethod
    def _keyring(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_seal_keys(value.get_secret_value())
        return value


DEFAULT_BRIDGE_IDLE_SECONDS = 600.0
DEFAULT_BRIDGE_MAX_SESSIONS = 64


class BridgeSessionSettings(BaseModel):
    """The bridge's session bounds (``stdio`` and ``sse`` adapters), given to each replica as its
    ``MCP_SESSION_TTL`` and ``MCP_MAX_SESSIONS``: a session idle this long ends (for stdio, its process
    with it), and at the limit the session idle the longest gives way to a new one."""

    session_idle_timeout_seconds: float = Field(default=DEFAULT_BRIDGE_IDLE_SECONDS, gt=0, le=7 * 24 * 3600)
    max_sessions_per_replica: int = Field(default=DEFAULT_BRIDGE_MAX_SESSIONS, ge=1, le=100_000)


class LocalRuntimeSettings(BridgeSessionSettings):
    ready_timeout_seconds: float = Field(default=60.0, gt=0)
    health_interval_seconds: float = Field(default=1.0, gt=0)
    max_restart_backoff_seconds: float = Field(default=30.0, gt=0)
    stop_grace_seconds: float = Field(default=5.0, gt=0)
    log_lines: int = Field(default=1000, ge=10)


class KubernetesRuntimeSettings(BridgeSessionSettings):
    namespace: str = "adapter"
    registry: str = "localhost:5000"
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool | None = None
    """None: in-cluster when running in a pod, else the kubeconfig."""
    bridge_image: str = "mcp-proxy:latest"
    """Image (under ``registry``) that runs ``command`` adapters through the stdio bridge."""
    workload_service_account: str = WORKLOAD_SERVICE_ACCOUNT
    cluster_domain: str = "cluster.local"
    container_port: int = 8000
    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"
    ephemeral_storage_limit: str = "2Gi"
    run_as_user: int = 1100
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class RuntimeSettings(BaseModel):
    kind: Literal["local", "kubernetes"] = "local"
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    """How often every record and workload is converged (what a crash or another replica left behind)."""
    local: LocalRuntimeSettings = LocalRuntimeSettings()
    kubernetes: KubernetesRuntimeSettings = KubernetesRuntimeSettings()


class AuthSettings(BaseModel):
    mode: Literal["dev", "entra", "oidc"] = "dev"
    force_dev: bool = False
    """Allow dev (header) authentication on a non-loopback bind. Never on the internet."""
    tenant_id: str | None = None
    """Entra: the directory (tenant) GUID; the issuer is ``https://login.microsoftonline.com/{tenant}/v2.0``."""
    client_id: str | None = None
    """Entra: the gateway's application (client) id; tokens for ``api://{id}`` or ``{id}`` are accepted."""
    issuer: str | None = None
    """OIDC: the issuer (keys found by discovery). Entra: overrides the public-cloud issuer."""
    audience: list[str] = Field(default_factory=list)
    """Accepted ``aud`` values (OIDC: required; Entra: added to the two derived from ``client_id``)."""
    user_id_claim: str = "oid"
    """Claim used as the user id; falls back to ``sub`` when absent."""
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"])
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    """Clock skew tolerated on ``exp`` and ``nbf``."""
    jwks_cache_seconds: int = Field(default=3600, ge=1)
    jwks_refresh_min_interval_seconds: float = Field(default=10.0, ge=0)
    """An unknown key id refreshes the issuer's keys at most this often (key rotation without restart)."""
    scopes_supported: list[str] = Field(default_factory=list)
    """Advertised in the RFC 9728 metadata; Entra default ``api://{clientId}/.default``."""
    workload_identity_roles: list[str] = Field(default_factory=list)
    """Roles besides ``mcp.admin`` allowed to set ``useWorkloadIdentity``."""


class ProxySettings(BaseModel):
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=300.0, gt=0)
    request_body_limit_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_connections: int = Field(default=2048, ge=1)
    """Requests and open streams to all replicas together, each holding one upstream connection (503 +
    Retry-After above it); the per-adapter and per-user bounds below sit inside it."""
    max_in_flight_per_adapter: int = Field(default=512, ge=1)
    """Requests and open streams to one adapter (or the tool router) at once: a bulkhead inside the shared
    pool, so one slow, hung or flooded upstream cannot take every connection (503 + Retry-After above it)."""
    max_in_flight_per_user: int = Field(default=128, ge=1)
    """Requests and open streams of one user at once, across all adapters (429 + Retry-After above it)."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Browser origins accepted on MCP paths besides loopback origins; ``*`` accepts any."""
    # The SSRF policy for user-supplied ``url`` adapters and tools (gateway.netpolicy), checked at create
    # time and on every connect. Link-local, cloud-metadata, multicast and unspecified addresses are always
    # refused. The gateway's own replicas (local processes, Kubernetes Services) are never subject to it.
    allow_loopback_urls: bool | None = None
    """Let ``url`` adapters and tools reach loopback (127.0.0.0/8, ::1). Unset: allowed in development
    (``make run`` plus a server on localhost), refused in production, where loopback is the gateway's own
    pod (its internal endpoints, sidecars' admin ports)."""
    allow_private_urls: bool | None = None
    """Let ``url`` adapters and tools reach private and other non-public networks (10/8, 172.16/12,
    192.168/16, 100.64/10, fc00::/7, ...), i.e. in-cluster and on-premises services. Unset: allowed in
    development, refused in production."""
    dns_servers: list[str] = Field(default_factory=list)
    """Name servers that resolve ``url`` host names, at create time and on every connect (JSON list of IP
    addresses with optional ports: ``["10.0.0.10", "127.0.0.1:5353"]``). Empty: the system resolver."""

    @field_validator("dns_servers")
    @classmethod
    def _check_dns_servers(cls, value: list[str]) -> list[str]:
        return [check_nameserver(server) for server in value]

    def url_policy(self, environment: str) -> AddressPolicy:
        """The policy for ``url`` targets; unset flags follow ``environment``."""
        return AddressPolicy.for_environment(
            environment, allow_loopback=self.allow_loopback_urls, allow_private=self.allow_private_urls
        )


class RouterSettings(BaseModel):
    model_config = _SECRET_HOLDER

    replicas: int = Field(default=1, ge=0, le=16)
    """Local runtime: how many tool router processes the gateway starts."""
    secret: SecretStr | None = None
    """Shared secret sent as ``X-Gateway-Secret`` to the tool router only; generated when unset locally."""
    call_timeout_seconds: float = Field(default=30.0, gt=0)
    access_log: bool = False
    """Local runtime: an access log in the router processes too (the gateway's own already has each call)."""
    aggregate_adapters: bool = True
    """``/mcp`` serves every readable adapter's tools (``{adapter}__{tool}``), prompts and resources besides
    the registered tools; false: the registered tools only (passed to the router processes)."""
    lean_path: bool = True
    """Local runtime: the router processes answer ``/mcp``'s hot methods on their lean path (the same answers
    as the MCP SDK's, at about half the CPU); false: everything through the SDK (passed to the processes)."""


class TelemetrySettings(BaseModel):
    """Traces, metrics, logs and audit events (see docs/observability.md)."""

    log_format: Literal["text", "json"] = "text"
    """``json`` in production: one object per line with the request id; secrets are redacted either way."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (``http://collector:4318/v1/traces``). With neither this nor
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set, nothing is exported and tracing is a no-op."""
    service_name: str = "mcp-gateway"
    metrics_enabled: bool = True
    """Serve Prometheus metrics on ``GET /metrics``."""
    audit_log_arguments: bool = False
    """Record tool-call arguments in audit events (they may hold personal data)."""
    audit_file: Path | None = None
    """Also append audit events as JSON lines to this file (besides the ``mcpgw.audit`` logger)."""


class PortalSettings(BaseModel):
    """The web portal at ``/portal/`` (docs/portal.md). Sign-in settings matter in ``entra``/``oidc`` mode only:
    the page signs in with the authorization code flow and PKCE against the issuer the gateway trusts."""

    enabled: bool = True
    """Serve the portal (``/portal/``, ``/portal/config``, and the redirect from ``/``)."""
    client_id: str | None = None
    """The portal's own OAuth client id (a public client, a "single-page application" redirect URI of
    ``{public origin}/portal/``). Entra: defaults to ``MCPGW_AUTH__CLIENT_ID``. OIDC: without it the
    portal cannot sign in."""
    scopes: list[str] = Field(default_factory=list)
    """Scopes the portal asks for (JSON list). Empty: ``openid`` plus the gateway's advertised scopes
    (``MCPGW_AUTH__SCOPES_SUPPORTED``; Entra ``api://{clientId}/.default``)."""


class GatewaySettings(BaseSettings):
    """All gateway configuration. ``create_app`` takes one of these; nothing else reads the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MCPGW_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
        # Errors name the variable and what is wrong; the value may be a secret (a key, a connection string).
        hide_input_in_errors=True,
    )

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    cosmos: CosmosSettings = CosmosSettings()
    sessions: SessionSettings = SessionSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    auth: AuthSettings = AuthSettings()
    proxy: ProxySettings = ProxySettings()
    router: RouterSettings = RouterSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    portal: PortalSettings = PortalSettings()

    @property
    def sqlite_path(self) -> Path:
        return self.store.sqlite_path or self.server.data_dir / "gateway.db"

    @property
    def dev_auth_allowed(self) -> bool:
        return self.auth.mode == "dev" and (is_loopback_host(self.server.host) or self.auth.force_dev)

    @model_validator(mode="after")
    def check_consistency(self) -> GatewaySettings:
        problems = list(_consistency_problems(self))
        if problems:
            raise ValueError("invalid gateway configuration:\n  - " + "\n  - ".join(problems))
        return self


def _is_trusted_issuer_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))


def _consistency_problems(s: GatewaySettings) -> list[str]:
    problems: list[str] = []
    if s.auth.mode == "dev" and not is_loopback_host(s.server.host) and not s.auth.force_dev:
        problems.append(
            f"development authentication trusts X-Dev-* headers, so it only runs on a loopback bind "
            f"(MCPGW_SERVER__HOST={s.server.host}). Set MCPGW_AUTH__MODE=entra or oidc, or "
            "MCPGW_AUTH__FORCE_DEV=true if you really want header identities on this address."
        )
    if s.server.environment == "production" and s.auth.mode == "dev" and not s.auth.force_dev:
        problems.append("production needs token authentication: set MCPGW_AUTH__MODE=entra or oidc.")
    if s.auth.mode == "entra" and not (s.auth.tenant_id and s.auth.client_id):
        problems.append("MCPGW_AUTH__MODE=entra needs MCPGW_AUTH__TENANT_ID and MCPGW_AUTH__CLIENT_ID.")
    if s.auth.mode == "oidc" and not (s.auth.issuer and s.auth.audience):
        problems.append("MCPGW_AUTH__MODE=oidc needs MCPGW_AUTH__ISSUER and MCPGW_AUTH__AUDIENCE (a JSON list).")
    if s.auth.mode != "dev" and s.auth.issuer and not _is_trusted_issuer_url(s.auth.issuer):
        problems.append(
            "MCPGW_AUTH__ISSUER must be an https:// URL (plain http only for an issuer on loopback), "
            "because the signing keys are fetched from it."
        )
    if any(a.lower() == "none" or a.upper().startswith("HS") for a in s.auth.algorithms):
        problems.append(
            "MCPGW_AUTH__ALGORITHMS may not contain 'none' or HMAC algorithms "
            "(tokens are signed by the issuer's public keys)."
        )
    needs_cosmos = s.store.kind == "cosmos" or s.sessions.kind == "cosmos"
    if needs_cosmos and not s.cosmos.endpoint:
        problems.append("a Cosmos store needs MCPGW_COSMOS__ENDPOINT (https://<account>.documents.azure.com:443/).")
    if s.sessions.kind == "redis" and s.sessions.redis_url is None:
        problems.append("MCPGW_SESSIONS__KIND=redis needs MCPGW_SESSIONS__REDIS_URL (redis://host:6379/0).")
    if s.server.environment == "production" and s.router.secret is None:
        problems.append("production needs MCPGW_ROUTER__SECRET, the secret shared with the tool router.")
    if s.sessions.max_lifetime_seconds < s.sessions.idle_timeout_seconds:
        problems.append("MCPGW_SESSIONS__MAX_LIFETIME_SECONDS must be at least MCPGW_SESSIONS__IDLE_TIMEOUT_SECONDS.")
    return problems
