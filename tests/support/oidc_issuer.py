"""A real OpenID provider for the tests: discovery, RFC 8414 metadata, JWKS, authorize and token endpoints.

It signs RS256 tokens with keys generated here; ``rotate()`` swaps the published key set the way a real
issuer rotates keys. Every request path is recorded so tests can count JWKS fetches and see discovery.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

TENANT_PATH = "/tenant-a/v2.0"  # an issuer with a path, like Entra's
CORS = {"Access-Control-Allow-Origin": "*"}
"""On what a browser app reads (discovery, keys, the token answer), as real issuers send for SPA clients."""


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        # Like Entra: no "alg" member, only kty/use/kid.
        jwk.update({"kid": self.kid, "use": "sig"})
        return jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIssuer:
    """State of the provider; ``app`` serves it. ``issuer`` is set once the server has a port."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.issuer = ""
        self.active = SigningKey("key-1")
        self.published: list[SigningKey] = [self.active]
        self.requests: list[str] = []
        self.authorize_params: list[dict[str, str]] = []
        self.token_claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        """Authorization codes not yet redeemed: the authorize request's parameters, by code."""
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route(TENANT_PATH + "/.well-known/openid-configuration", self._metadata),
            Route("/.well-known/oauth-authorization-server" + TENANT_PATH, self._metadata),
            Route(TENANT_PATH + "/keys", self._jwks),
            Route(TENANT_PATH + "/authorize", self._authorize),
            Route(TENANT_PATH + "/token", self._token, methods=["POST"]),
        ])

    # --- tokens -------------------------------------------------------------------------------------------

    def mint(self, *, key: SigningKey | None = None, kid: str | None = None, alg: str = "RS256",
             **claims: Any) -> str:
        """A signed access token; claims default to a valid one for ``aud`` ``api://gateway``."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer, "aud": "api://gateway", "iat": now, "nbf": now,
                                   "exp": now + 300, "sub": "pairwise-sub", "oid": "alice", "scp": "access"}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = key or self.active
        return jwt.encode(payload, signer.private, algorithm=alg, headers={"kid": kid or signer.kid})

    def mint_unsigned(self, **claims: Any) -> str:
        """An ``alg: none`` token with otherwise valid claims."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.active.kid}).encode())
        body = jwt.decode(self.mint(**claims), options={"verify_signature": False})
        return f"{header}.{_b64(json.dumps(body).encode())}."

    def rotate(self) -> SigningKey:
        """Publish only a new key (new kid) and sign with it from now on."""
        with self._lock:
            self.active = SigningKey(f"key-{len(self.requests)}-{secrets.token_hex(4)}")
            self.published = [self.active]
        return self.active

    def count(self, suffix: str) -> int:
        with self._lock:
            return sum(1 for path in self.requests if path.endswith(suffix))

    # --- endpoints ----------------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request.url.path)

    async def _metadata(self, request: Request) -> Response:
        self._record(request)
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }, headers=CORS)

    async def _jwks(self, request: Request) -> Response:
        self._record(request)
        with self._lock:
            keys = [k.public_jwk() for k in self.published]
        return JSONResponse({"keys": keys}, headers=CORS)

    async def _authorize(self, request: Request) -> Response:
        """Signs the user in at once: records the request and redirects back with a code, in the query or,
        with ``response_mode=fragment`` (what browser apps ask for), in the fragment. The code remembers
        the PKCE challenge and redirect URI that the token request must match."""
        self._record(request)
        params = dict(request.query_params)
        self.authorize_params.append(params)
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self.codes[code] = params
        answer = urlencode({"code": code, "state": params.get("state", "")})
        separator = "#" if params.get("response_mode") == "fragment" else "?"
        return RedirectResponse(f"{params['redirect_uri']}{separator}{answer}", status_code=302)

    async def _token(self, request: Request) -> Response:
        """The authorization-code grant (RFC 6749 4.1.3 with PKCE, RFC 7636): the code once, the same
        redirect URI, and the verifier whose S256 hash is the challenge. An id token (``openid`` scope)
        carries the nonce for the client to check."""
        self._record(request)
        form = await request.form()
        verifier = str(form.get("code_verifier") or "")
        if form.get("grant_type") != "authorization_code" or not verifier:
            return JSONResponse({"error": "invalid_request"}, status_code=400, headers=CORS)
        with self._lock:
            params = self.codes.pop(str(form.get("code") or ""), None)
        if params is None:
            return self._grant_error("the code is unknown or was used already")
        if form.get("redirect_uri") != params.get("redirect_uri"):
            return self._grant_error("redirect_uri differs from the authorization request's")
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if params.get("code_challenge_method") != "S256" or challenge != params.get("code_challenge"):
            return self._grant_error("the code verifier does not match the code challenge")
        body: dict[str, Any] = {"access_token": self.mint(**self.token_claims), "token_type": "Bearer",
                                "expires_in": 300}
        if "openid" in params.get("scope", "").split():
            claims = {k: v for k, v in self.token_claims.items() if k not in ("aud", "scp")}
            body["id_token"] = self.mint(**{**claims, "aud": params.get("client_id", ""), "scp": None,
                                            "nonce": params.get("nonce")})
        return JSONResponse(body, headers=CORS)

    @staticmethod
    def _grant_error(description: str) -> Response:
        return JSONResponse({"error": "invalid_grant", "error_description": description}, status_code=400,
                            headers=CORS)
