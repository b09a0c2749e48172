"""The test OpenID provider with the device authorization grant (RFC 8628) and refresh tokens, for
``mcp-gateway login``.

:class:`DeviceIssuer` adds to :class:`tests.support.oidc_issuer.TestIssuer` (whose routes it keeps):

- ``POST {issuer}/devicecode``: a device code and a user code, advertised as ``device_authorization_endpoint``;
- the token endpoint's ``urn:ietf:params:oauth:grant-type:device_code`` grant: ``authorization_pending``
  until the test calls :meth:`DeviceIssuer.approve` with the user code (as a person would on the
  verification page), then the tokens; ``access_denied`` after :meth:`DeviceIssuer.deny`;
- the ``refresh_token`` grant: new tokens for a refresh token it issued (each used once, then rotated).

Every grant the token endpoint sees is recorded in ``grants`` so a test can tell a refresh happened.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.oidc_issuer import TENANT_PATH, TestIssuer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class DeviceGrant:
    client_id: str
    scope: str
    user_code: str
    state: str = "pending"
    """``pending``, ``approved``, ``denied`` or ``used``."""
    claims: dict[str, Any] = field(default_factory=dict)


class DeviceIssuer(TestIssuer):
    """A :class:`TestIssuer` that also signs people in on another device. ``token_lifetime`` is the
    ``expires_in`` of every access token; ``interval`` the polling interval it asks clients for."""

    __test__ = False

    def __init__(self, token_lifetime: int = 300, interval: int = 1) -> None:
        super().__init__()
        self.token_lifetime = token_lifetime
        self.interval = interval
        self.devices: dict[str, DeviceGrant] = {}
        self.refresh_tokens: dict[str, DeviceGrant] = {}
        self.grants: list[str] = []
        self._device_lock = threading.Lock()
        self.app.router.routes.append(Route(TENANT_PATH + "/devicecode", self._device_authorization, methods=["POST"]))

    # --- what the person on the verification page does ----------------------------------------------------

    def approve(self, user_code: str, **claims: Any) -> None:
        """Sign in as ``claims`` (defaults: :meth:`TestIssuer.mint`'s) for the device showing ``user_code``."""
        grant = self._by_user_code(user_code)
        grant.state, grant.claims = "approved", claims

    def deny(self, user_code: str) -> None:
        self._by_user_code(user_code).state = "denied"

    def _by_user_code(self, user_code: str) -> DeviceGrant:
        with self._device_lock:
            for grant in self.devices.values():
                if grant.user_code == user_code:
                    return grant
        raise KeyError(f"no device login shows the code {user_code!r}")

    # --- endpoints ----------------------------------------------------------------------------------------

    async def _metadata(self, request: Request) -> Response:
        answer = await super()._metadata(request)
        document = json.loads(bytes(answer.body))
        document["device_authorization_endpoint"] = f"{self.issuer}/devicecode"
        document["grant_types_supported"] = [*document["grant_types_supported"], DEVICE_GRANT]
        return JSONResponse(document)

    async def _device_authorization(self, request: Request) -> Response:
        self._record(request)
        form = await request.form()
        if not form.get("client_id"):
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        device_code = secrets.token_urlsafe(24)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        with self._device_lock:
            self.devices[device_code] = DeviceGrant(str(form["client_id"]), str(form.get("scope", "")), user_code)
        return JSONResponse({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"{self.issuer}/device",
            "verification_uri_complete": f"{self.issuer}/device?user_code={user_code}",
            "expires_in": 600,
            "interval": self.interval,
        })

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        grant_type = str(form.get("grant_type", ""))
        if grant_type == DEVICE_GRANT:
            self._record(request)
            self.grants.append(grant_type)
            return self._device_token(str(form.get("device_code", "")), str(form.get("client_id", "")))
        if grant_type == "refresh_token":
            self._record(request)
            self.grants.append(grant_type)
            return self._refreshed(str(form.get("refresh_token", "")), str(form.get("client_id", "")))
        return await super()._token(request)

    def _device_token(self, device_code: str, client_id: str) -> Response:
        with self._device_lock:
            grant = self.devices.get(device_code)
            if grant is None or grant.client_id != client_id:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if grant.state == "pending":
                return JSONResponse({"error": "authorization_pending"}, status_code=400)
            if grant.state == "denied":
                return JSONResponse({"error": "access_denied", "error_description": "the user said no"}, 400)
            if grant.state == "used":
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            grant.state = "used"
        return self._tokens(grant)

    def _refreshed(self, refresh_token: str, client_id: str) -> Response:
        with self._device_lock:
            grant = self.refresh_tokens.pop(refresh_token, None)
        if grant is None or grant.client_id != client_id:
            return JSONResponse({"error": "invalid_grant", "error_description": "unknown refresh token"}, 400)
        return self._tokens(grant)

    def _tokens(self, grant: DeviceGrant) -> Response:
        refresh_token = secrets.token_urlsafe(24)
        with self._device_lock:
            self.refresh_tokens[refresh_token] = grant
        now = int(time.time())
        claims = {**self.token_claims, "exp": now + self.token_lifetime, **grant.claims}
        return JSONResponse({
            "access_token": self.mint(**claims),
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "refresh_token": refresh_token,
            "scope": grant.scope,
        })
