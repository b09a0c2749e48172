"""``mcp-gateway login``: the OAuth 2.0 device authorization grant (RFC 8628) against the gateway's issuer.

The gateway names its authorization server in its protected resource metadata (RFC 9728,
``/.well-known/oauth-protected-resource``); the issuer's discovery document names the device authorization
and token endpoints. The user opens the verification URL on any device and enters the code while the CLI
polls the token endpoint. Entra ID and any OIDC issuer with a device endpoint work the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.cli.errors import CliError, ExitCode
from gateway.cli.tokens import CachedToken, token_from_response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""A public client that supports the device flow, and one the Entra set-up pre-authorizes (docs/entra.md)."""
ENTRA_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn")


@dataclass(frozen=True)
class Issuer:
    issuer: str
    device_endpoint: str
    token_endpoint: str
    scopes: tuple[str, ...]
    """What the gateway says to ask for (``scopes_supported``)."""


def discover(gateway: str, http: httpx.Client) -> Issuer:
    resource = _get_json(http, f"{gateway}/.well-known/oauth-protected-resource", "the gateway's metadata")
    if resource is None:
        raise CliError(
            f"{gateway} uses development authentication: nothing to log in to (use --user and --roles)",
            ExitCode.USAGE,
        )
    servers = resource.get("authorization_servers") or []
    if not servers or not isinstance(servers[0], str):
        raise CliError(f"{gateway}'s metadata names no authorization server", ExitCode.AUTH)
    issuer = servers[0].rstrip("/")
    metadata = _issuer_metadata(issuer, http)
    device = metadata.get("device_authorization_endpoint")
    if not isinstance(device, str):
        raise CliError(f"the issuer {issuer} offers no device authorization endpoint (RFC 8628)", ExitCode.AUTH)
    scopes = tuple(scope for scope in resource.get("scopes_supported") or [] if isinstance(scope, str))
    return Issuer(issuer, device, str(metadata["token_endpoint"]), scopes)


def _issuer_metadata(issuer: str, http: httpx.Client) -> dict[str, Any]:
    """OpenID discovery (``{issuer}/.well-known/openid-configuration``), else RFC 8414 metadata."""
    parts = urlsplit(issuer)
    candidates = [
        f"{issuer}/.well-known/openid-configuration",
        f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}",
    ]
    for url in candidates:
        metadata = _get_json(http, url, f"the issuer's metadata at {url}")
        if metadata is not None and isinstance(metadata.get("token_endpoint"), str):
            return metadata
    raise CliError(f"the issuer {issuer} publishes no OpenID or OAuth metadata", ExitCode.AUTH)


def _get_json(http: httpx.Client, url: str, what: str) -> dict[str, Any] | None:
    try:
        answer = http.get(url)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot fetch {what}: {exc}", ExitCode.UNREACHABLE) from None
    if answer.status_code == 404:
        return None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200 or not isinstance(body, dict):
        raise CliError(f"cannot fetch {what}: HTTP {answer.status_code}", ExitCode.AUTH)
    return body


def default_client_id(issuer: str) -> str | None:
    return AZURE_CLI_CLIENT_ID if urlsplit(issuer).hostname in ENTRA_HOSTS else None


def requested_scopes(issuer: Issuer, chosen: tuple[str, ...]) -> str:
    """The gateway's scopes (or ``--scope``), plus ``offline_access`` for a refresh token."""
    scopes = list(chosen or issuer.scopes)
    if "offline_access" not in scopes:
        scopes.append("offline_access")
    return " ".join(scopes)


def device_login(
    gateway: str,
    issuer: Issuer,
    client_id: str,
    scope: str,
    http: httpx.Client,
    show: Callable[[str], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> CachedToken:
    """Ask for a device code, show the user where to enter it, poll until they have; the new tokens."""
    grant = _post(http, issuer.device_endpoint, {"client_id": client_id, "scope": scope}, "the device endpoint")
    if grant.get("error") or "device_code" not in grant:
        raise CliError(f"the issuer refused the device login: {_oauth_reason(grant)}", ExitCode.AUTH)
    where = grant.get("verification_uri") or grant.get("verification_url")
    show(f"To sign in, open {where} and enter the code {grant['user_code']}")
    if grant.get("verification_uri_complete"):
        show(f"(or open {grant['verification_uri_complete']})")
    interval = float(grant.get("interval") or 5)
    deadline = time.monotonic() + float(grant.get("expires_in") or 900)
    form = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": client_id}
    while time.monotonic() < deadline:
        sleep(interval)
        answer = _post(http, issuer.token_endpoint, form, "the token endpoint")
        error = answer.get("error")
        if error is None and "access_token" in answer:
            return token_from_response(answer, gateway, issuer.issuer, issuer.token_endpoint, client_id)
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5
            continue
        raise CliError(f"login failed: {_oauth_reason(answer)}", ExitCode.AUTH)
    raise CliError("login failed: the code expired before it was entered", ExitCode.AUTH)


def _post(http: httpx.Client, url: str, form: dict[str, str], what: str) -> dict[str, Any]:
    try:
        answer = http.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {what} ({url}): {exc}", ExitCode.UNREACHABLE) from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CliError(f"{what} ({url}) answered HTTP {answer.status_code} without a JSON body", ExitCode.AUTH)
    return body


def _oauth_reason(body: dict[str, Any]) -> str:
    return str(body.get("error_description") or body.get("error") or "no reason given")
