"""The issuer's signing keys: OIDC discovery, a cached JWKS, and a rate-limited refresh on an unknown key.

An unknown ``kid`` usually means the issuer rotated its keys, so it triggers one refresh; but anyone can
put any ``kid`` in a token, so refreshes are at most one per ``refresh_min_interval`` seconds, and
concurrent requests share one fetch.

Failure policy: if the keys were never fetched and cannot be fetched now, callers get
:class:`gateway.errors.Unavailable` (503): the caller's token may be fine, the gateway just cannot tell.
Once keys are cached, a failed refresh keeps the stale keys instead of rejecting every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from gateway.errors import Unavailable

log = logging.getLogger(__name__)

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
UNREACHABLE = "The gateway cannot reach its token issuer to check the token; try again shortly."


class IssuerError(Exception):
    """The issuer answered, but not with a usable discovery document or key set."""


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 §4: the configuration lives under the issuer URL."""
    return issuer.rstrip("/") + DISCOVERY_SUFFIX


def parse_jwks(document: Any) -> dict[str | None, PyJWK]:
    """Signing keys by ``kid``; keys this library cannot use (or meant for encryption) are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IssuerError("the JWKS document has no 'keys' list")
    keys: dict[str | None, PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(entry)
        except PyJWKError as exc:
            log.info("skipping an unusable key kid=%s: %s", str(entry.get("kid"))[:64], exc)
            continue
        keys[entry.get("kid") if isinstance(entry.get("kid"), str) else None] = key
    return keys


class JwksCache:
    """Keys of one issuer. ``key(kid)`` returns the key, or None when the issuer does not publish it."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float,
        refresh_min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_interval = refresh_min_interval
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> PyJWK | None:
        keys = await self._current_keys()
        found = _pick(keys, kid)
        if found is None and self._may_refresh():
            log.info("unknown signing key kid=%s: refreshing the issuer's keys", (kid or "")[:64])
            keys = await self._refresh(since=self._attempted_at)
            found = _pick(keys, kid)
        return found

    async def warm_up(self) -> None:
        """Fetch the keys once at start-up so the first request is fast; failure is only logged."""
        try:
            await self._current_keys()
        except Unavailable as exc:
            log.warning("could not fetch the token issuer's keys at start-up: %s", exc.detail)

    def _may_refresh(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._min_interval

    async def _current_keys(self) -> dict[str | None, PyJWK]:
        fresh = self._keys is not None and self._clock() - self._fetched_at < self._cache_seconds
        if fresh or not self._may_refresh():
            # Also when the issuer is down: retry at most once per interval, never once per request.
            if self._keys is None:
                raise Unavailable(UNREACHABLE, public=UNREACHABLE)
            return self._keys
        return await self._refresh(since=self._attempted_at)

    async def _refresh(self, since: float | None) -> dict[str | None, PyJWK]:
        async with self._lock:
            # Another request refreshed while this one waited: use its result, do not fetch again.
            if self._keys is not None and self._attempted_at != since:
                return self._keys
            self._attempted_at = self._clock()
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, IssuerError, ValueError) as exc:
                return self._keep_stale(exc)
            self._keys, self._fetched_at = keys, self._attempted_at
            return keys

    def _keep_stale(self, exc: Exception) -> dict[str | None, PyJWK]:
        reason = f"{type(exc).__name__}: {exc}"
        if self._keys is None:
            log.warning("cannot fetch signing keys of %s: %s", self._issuer, reason)
            raise Unavailable(UNREACHABLE, public=UNREACHABLE)
        log.warning("refreshing the keys of %s failed (%s); keeping the cached ones", self._issuer, reason)
        return self._keys

    async def _fetch(self) -> dict[str | None, PyJWK]:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover()
        response = await self._http.get(self._jwks_uri)
        response.raise_for_status()
        keys = parse_jwks(response.json())
        if not keys:
            raise IssuerError("the JWKS contains no usable signing keys")
        return keys

    async def _discover(self) -> str:
        response = await self._http.get(discovery_url(self._issuer))
        response.raise_for_status()
        config = response.json()
        if not isinstance(config, dict):
            raise IssuerError("the discovery document is not a JSON object")
        # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if config.get("issuer") != self._issuer:
            raise IssuerError(f"the discovery document names issuer {config.get('issuer')!r}")
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise IssuerError("the discovery document has no jwks_uri")
        return jwks_uri


def _pick(keys: dict[str | None, PyJWK], kid: str | None) -> PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    # A token without a kid is only unambiguous when the issuer publishes a single key.
    return next(iter(keys.values())) if len(keys) == 1 else None
