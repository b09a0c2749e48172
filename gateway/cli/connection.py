"""Which gateway a command talks to, and as whom.

The URL: ``--gateway`` > ``MCPGW_URL`` > the context (``--context``, ``MCPGW_CONTEXT`` or the file's
``currentContext``) > ``http://127.0.0.1:8000`` (``make run``'s gateway). The identity: a cached token for that
URL (``mcp-gateway login``), else development identity headers from ``--user``/``--roles`` or the context.
A context's identity and client id apply when the URL comes from it, or when the context was named explicitly:
``--gateway`` to some other gateway must not carry the current context's user along.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.cli.config import CliConfig, Context
from gateway.cli.errors import CliError, ExitCode

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
URL_VARIABLE = "MCPGW_URL"
CONTEXT_VARIABLE = "MCPGW_CONTEXT"


@dataclass(frozen=True)
class Connection:
    gateway: str
    """The base URL, without a trailing slash."""
    context: str | None = None
    user: str | None = None
    roles: tuple[str, ...] = ()
    client_id: str | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def dev_headers(self) -> dict[str, str]:
        """``X-Dev-*`` headers for a gateway in development mode (it ignores them in any other mode)."""
        headers: dict[str, str] = {}
        if self.user:
            headers["X-Dev-UserId"] = self.user
        if self.roles:
            headers["X-Dev-Roles"] = ",".join(self.roles)
        return headers


def resolve_connection(
    config: CliConfig,
    *,
    gateway: str | None = None,
    context: str | None = None,
    user: str | None = None,
    roles: str | None = None,
    environ: dict[str, str] | None = None,
) -> Connection:
    env = os.environ if environ is None else environ
    named = context or env.get(CONTEXT_VARIABLE) or None
    chosen = _context(config, named)
    url_override = gateway or env.get(URL_VARIABLE) or None
    applies = chosen is not None and (named is not None or url_override is None)
    ctx = chosen[1] if chosen is not None and applies else Context()
    url = url_override or ctx.gateway or DEFAULT_GATEWAY
    return Connection(
        gateway=normalise_gateway_url(url, source=_url_source(gateway, env, chosen)),
        context=chosen[0] if chosen is not None and applies else None,
        user=user or ctx.user,
        roles=tuple(_split_roles(roles)) if roles is not None else tuple(ctx.roles),
        client_id=ctx.client_id,
        scopes=tuple(ctx.scopes),
    )


def _context(config: CliConfig, named: str | None) -> tuple[str, Context] | None:
    if named is not None:
        if named not in config.contexts:
            known = ", ".join(sorted(config.contexts)) or "none yet: mcp-gateway context set NAME --gateway URL"
            raise CliError(f"no context named {named!r} (contexts: {known})", ExitCode.USAGE)
        return named, config.contexts[named]
    if config.current and config.current in config.contexts:
        return config.current, config.contexts[config.current]
    return None


def _url_source(gateway: str | None, env: dict[str, str] | os._Environ[str], chosen: object) -> str:
    if gateway:
        return "--gateway"
    if env.get(URL_VARIABLE):
        return URL_VARIABLE
    return "the context's gateway" if chosen is not None else "the default"


def _split_roles(roles: str) -> list[str]:
    return [role.strip() for role in roles.split(",") if role.strip()]


def normalise_gateway_url(url: str, *, source: str = "--gateway") -> str:
    """``url`` checked (http or https, a host, no query) and without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"{source}: expected the gateway's base URL such as http://127.0.0.1:8000, got {url!r}", ExitCode.USAGE
        )
    if parts.query or parts.fragment:
        raise CliError(f"{source}: the gateway URL takes no query or fragment, got {url!r}", ExitCode.USAGE)
    return url.strip().rstrip("/")
