"""Push credentials for a registry whose admin user is off: an ACR refresh token for the deployer.

ACR's token server exchanges the deployer's Entra access token (the one Pulumi already uses) for a
registry refresh token, which docker accepts as the password of the all-zero user. This is what
``az acr login --expose-token`` does; doing it here lets one ``pulumi up`` create the registry and push.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable

ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"

Poster = Callable[[str, bytes], bytes]


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: bytes = response.read()
        return data


def exchange_refresh_token(login_server: str, tenant_id: str, aad_token: str, post: Poster = _post) -> str:
    """Trade an Entra access token for an ACR refresh token (``/oauth2/exchange``)."""
    if not login_server or "/" in login_server:
        raise ValueError(f"not a registry login server: {login_server!r}")
    body = urllib.parse.urlencode(
        {
            "grant_type": "access_token",
            "service": login_server,
            "tenant": tenant_id,
            "access_token": aad_token,
        }
    ).encode()
    payload = json.loads(post(f"https://{login_server}/oauth2/exchange", body))
    token = payload.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise RuntimeError(f"{login_server} returned no refresh_token; does the deployer have AcrPush?")
    return token
