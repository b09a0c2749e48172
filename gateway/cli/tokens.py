"""Tokens from ``mcp-gateway login``, cached per gateway and refreshed when they expire.

One JSON file per gateway URL under ``<config dir>/tokens/`` (named by a hash of the URL, so a URL never has
to be a file name), mode 0600 in a 0700 directory. A token that expires within a minute is refreshed with the
refresh token before it is used, and the new tokens replace the old ones in the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.cli.config import config_dir, private_dir, write_private
from gateway.cli.errors import CliError, ExitCode

REFRESH_MARGIN_SECONDS = 60
"""Refresh a token this long before it expires, so it does not expire on its way to the gateway."""


@dataclass
class CachedToken:
    gateway: str
    issuer: str
    token_endpoint: str
    client_id: str
    access_token: str
    expires_at: float
    refresh_token: str | None = None
    scope: str = ""

    def expires_soon(self, now: float | None = None) -> bool:
        return (now or time.time()) >= self.expires_at - REFRESH_MARGIN_SECONDS


def token_path(gateway: str) -> Path:
    digest = hashlib.sha256(gateway.encode()).hexdigest()[:32]
    return config_dir() / "tokens" / f"{digest}.json"


def load_token(gateway: str) -> CachedToken | None:
    path = token_path(gateway)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        token = CachedToken(**document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        raise CliError(
            f"the token cache {path} is unreadable: run mcp-gateway logout, then login", ExitCode.AUTH
        ) from None
    # A file copied from another gateway's entry must not send that gateway's token here.
    return token if token.gateway == gateway else None


def save_token(token: CachedToken) -> Path:
    path = token_path(token.gateway)
    private_dir(config_dir())  # the configuration directory too, not only tokens/: it holds every credential
    write_private(path, json.dumps(asdict(token), indent=2))
    return path


def forget_token(gateway: str) -> bool:
    path = token_path(gateway)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def access_token(gateway: str, http: httpx.Client) -> str | None:
    """A valid access token for ``gateway``, refreshed if it expires soon; None when not logged in."""
    token = load_token(gateway)
    if token is None:
        return None
    if token.expires_soon():
        token = refresh(token, http)
    return token.access_token


def refresh(token: CachedToken, http: httpx.Client) -> CachedToken:
    if not token.refresh_token:
        raise CliError(f"the login to {token.gateway} has expired: run mcp-gateway login", ExitCode.AUTH)
    form = {"grant_type": "refresh_token", "refresh_token": token.refresh_token, "client_id": token.client_id}
    if token.scope:
        form["scope"] = token.scope
    try:
        answer = http.post(token.token_endpoint, data=form)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot refresh the token at {token.token_endpoint}: {exc}", ExitCode.UNREACHABLE) from None
    body = _json(answer)
    if answer.status_code != 200 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or f"HTTP {answer.status_code}"
        raise CliError(f"the login to {token.gateway} has expired ({reason}): run mcp-gateway login", ExitCode.AUTH)
    renewed = token_from_response(body, token.gateway, token.issuer, token.token_endpoint, token.client_id)
    # Issuers need not rotate refresh tokens: keep the old one when the answer has none.
    renewed.refresh_token = renewed.refresh_token or token.refresh_token
    renewed.scope = renewed.scope or token.scope
    save_token(renewed)
    return renewed


def token_from_response(
    body: dict[str, Any], gateway: str, issuer: str, token_endpoint: str, client_id: str
) -> CachedToken:
    try:
        lifetime = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0  # RFC 6749 makes expires_in optional; an hour is what most issuers give
    return CachedToken(
        gateway=gateway,
        issuer=issuer,
        token_endpoint=token_endpoint,
        client_id=client_id,
        access_token=str(body["access_token"]),
        expires_at=time.time() + lifetime,
        refresh_token=body.get("refresh_token"),
        scope=str(body.get("scope") or ""),
    )


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def claims_for_display(access: str) -> dict[str, Any]:
    """The token's claims, read without checking the signature: only to say who you are. The gateway checks
    the token; the CLI never decides anything from these."""
    try:
        payload = access.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
