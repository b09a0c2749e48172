"""The key cache: one refresh per interval on unknown key ids, stale keys kept when the issuer fails."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth.jwks import JwksCache
from gateway.errors import Unavailable

ISSUER = "https://issuer.test/t"


def jwk(kid: str) -> dict[str, object]:
    key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key()))
    return {**key, "kid": kid, "use": "sig"}


class FakeIssuer:
    def __init__(self) -> None:
        self.keys = [jwk("a")]
        self.jwks_fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"})
        self.jwks_fetches += 1
        return httpx.Response(200, json={"keys": self.keys})


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeIssuer:
    return FakeIssuer()


def cache(fake: FakeIssuer, clock: Clock) -> JwksCache:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    return JwksCache(ISSUER, http, cache_seconds=3600, refresh_min_interval=10, clock=clock)


async def test_an_unknown_kid_refreshes_once_per_interval(fake: FakeIssuer) -> None:
    clock = Clock()
    keys = cache(fake, clock)
    assert await keys.key("a") is not None
    fake.keys = [jwk("b")]
    clock.now += 1
    assert await keys.key("b") is None  # too soon after the last fetch
    assert fake.jwks_fetches == 1
    clock.now += 10
    assert await keys.key("b") is not None
    assert fake.jwks_fetches == 2


async def test_stale_keys_survive_an_issuer_outage_but_no_keys_at_all_is_unavailable(fake: FakeIssuer) -> None:
    clock = Clock()
    keys = cache(fake, clock)
    assert await keys.key("a") is not None
    fake.down = True
    clock.now += 4000  # cache expired
    assert await keys.key("a") is not None
    fake.down, cold = True, cache(fake, Clock())
    with pytest.raises(Unavailable):
        await cold.key("a")


async def test_a_discovery_document_for_another_issuer_is_refused(fake: FakeIssuer) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    keys = JwksCache("https://issuer.test/other", http, cache_seconds=60, refresh_min_interval=0)
    with pytest.raises(Unavailable):
        await keys.key("a")
