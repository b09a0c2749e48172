"""Bearer-token authentication for ``MCPGW_AUTH__MODE=entra`` and ``oidc``: validate a JWT, build a Principal.

Only the ``Authorization: Bearer`` header is accepted (a token in the query string ends up in access
logs and browser history). The token itself is never logged, not even on failure; only the reason and
the key id are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from gateway.auth.jwks import JwksCache
from gateway.auth.metadata import authorization_server, entra_v1_issuer
from gateway.auth.principal import Principal, normalise_roles
from gateway.errors import Unauthenticated
from gateway.settings import AuthSettings

log = logging.getLogger(__name__)

QUERY_TOKEN_PARAMS = ("access_token",)
_FETCH_TIMEOUT = httpx.Timeout(5.0, read=10.0)


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must look like to be accepted."""

    mode: str
    issuer: str
    """Where keys are discovered (and what the metadata document advertises)."""
    accepted_issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    leeway_seconds: int
    user_id_claim: str
    require_scp_or_roles: bool
    """Entra: an ID token has the app's client id as audience too; only access tokens carry scp/roles."""


def policy_from_settings(auth: AuthSettings) -> TokenPolicy:
    issuer = authorization_server(auth)
    if issuer is None:
        raise ValueError(f"MCPGW_AUTH__MODE={auth.mode} does not use tokens")
    accepted = [issuer]
    audiences = list(auth.audience)
    if auth.mode == "entra":
        client, tenant = auth.client_id or "", auth.tenant_id or ""
        audiences = [f"api://{client}", client, *audiences]
        if not auth.issuer:
            accepted.append(entra_v1_issuer(tenant))
    # Defence in depth behind the settings check: never 'none', never HMAC (a public key as shared secret).
    algorithms = tuple(a for a in auth.algorithms if a.lower() != "none" and not a.upper().startswith("HS"))
    return TokenPolicy(
        mode=auth.mode,
        issuer=issuer,
        accepted_issuers=tuple(accepted),
        audiences=tuple(dict.fromkeys(audiences)),
        algorithms=algorithms,
        leeway_seconds=auth.leeway_seconds,
        user_id_claim=auth.user_id_claim,
        require_scp_or_roles=auth.mode == "entra",
    )


def _invalid(reason: str) -> Unauthenticated:
    return Unauthenticated(reason, error_code="invalid_token")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None for no header or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _first_string(claims: Mapping[str, Any], *names: str) -> str | None:
    return next((v for v in (claims.get(n) for n in names) if isinstance(v, str) and v.strip()), None)


def principal_from_claims(claims: Mapping[str, Any], user_id_claim: str = "oid") -> Principal:
    """User id from ``user_id_claim`` (else ``sub``), roles from ``roles`` and ``role``, scopes from
    ``scp`` (Entra) or ``scope`` (RFC 9068)."""
    user_id = _first_string(claims, user_id_claim, "sub")
    if user_id is None:
        raise _invalid(f"The token has neither '{user_id_claim}' nor 'sub'.")
    name = _first_string(claims, "name", "preferred_username") or user_id
    roles = normalise_roles([*_strings(claims.get("roles")), *_strings(claims.get("role"))])
    scopes: list[str] = []
    for claim in ("scp", "scope"):
        for value in _strings(claims.get(claim)):
            scopes.extend(value.split())
    return Principal(user_id=user_id, name=name, roles=roles, scopes=frozenset(scopes))


def _key_fits(key: Any, alg: str) -> bool:
    """The header's algorithm must match the key type, so a key is never used with a foreign algorithm."""
    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if alg.startswith("ES"):
        return isinstance(key, ec.EllipticCurvePublicKey)
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


_DECODE_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAudienceError, "The token was issued for another audience."),
    (jwt.InvalidIssuerError, "The token was issued by an untrusted issuer."),
    (jwt.InvalidSignatureError, "The token's signature is invalid."),
)


class JwtAuthenticator:
    """Validates issuer-signed JWTs against the issuer's published keys."""

    def __init__(self, policy: TokenPolicy, keys: JwksCache, http: httpx.AsyncClient | None = None) -> None:
        self.mode = policy.mode
        self.policy = policy
        self._keys = keys
        self._http = http

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> JwtAuthenticator:
        policy = policy_from_settings(auth)
        http = httpx.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False)
        keys = JwksCache(policy.issuer, http, cache_seconds=auth.jwks_cache_seconds,
                         refresh_min_interval=auth.jwks_refresh_min_interval_seconds)
        return cls(policy, keys, http)

    async def start(self) -> None:
        logging.getLogger("uvicorn.access").addFilter(_REDACTOR)
        await self._keys.warm_up()

    async def close(self) -> None:
        logging.getLogger("uvicorn.access").removeFilter(_REDACTOR)
        if self._http is not None:
            await self._http.aclose()

    async def authenticate(self, headers: Mapping[str, str], query_params: Mapping[str, str]) -> Principal:
        if any(param in query_params for param in QUERY_TOKEN_PARAMS):
            raise _invalid("Access tokens are accepted only in the Authorization header.")
        token = bearer_token(headers.get("authorization"))
        if token is None:
            raise Unauthenticated("A bearer token is required.")
        claims = await self.validate(token)
        return principal_from_claims(claims, self.policy.user_id_claim)

    async def validate(self, token: str) -> dict[str, Any]:
        """The token's claims when its signature, issuer, audience and lifetime are acceptable."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("The token is not a well-formed JWT.") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.policy.algorithms:
            raise _invalid("The token's signing algorithm is not accepted.")
        if kid is not None and not isinstance(kid, str):
            raise _invalid("The token's key id is malformed.")
        jwk = await self._keys.key(kid)
        if jwk is None:
            log.info("rejected a token signed with an unknown key kid=%s", (kid or "")[:64])
            raise _invalid("The token was signed with an unknown key.")
        if not _key_fits(jwk.key, alg):
            raise _invalid("The token's signing algorithm does not match its key.")
        claims = self._decode(token, jwk.key, alg)
        if self.policy.require_scp_or_roles and not (claims.get("scp") or claims.get("roles")):
            raise _invalid("The token carries neither 'scp' nor 'roles'; an access token is required.")
        return claims

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=[alg], audience=list(self.policy.audiences),
                issuer=list(self.policy.accepted_issuers), leeway=self.policy.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _DECODE_ERRORS if isinstance(exc, kind)), None)
            if reason is None:
                reason = f"The token is invalid ({type(exc).__name__})."
            log.info("rejected a token: %s", reason)
            raise _invalid(reason) from None
        return claims


class _QueryTokenRedactor(logging.Filter):
    """Masks ``access_token=…`` in access-log lines: a client that puts its token in the URL gets a 401,
    but the request line would still carry the token into the logs."""

    _PATTERN = re.compile(r"((?:^|[?&])(?:access_token|id_token|code)=)[^&\s\"]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) for a in record.args)
        return True

    def _redact(self, value: object) -> object:
        return self._PATTERN.sub(r"\1REDACTED", value) if isinstance(value, str) else value


_REDACTOR = _QueryTokenRedactor()

