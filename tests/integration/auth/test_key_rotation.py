"""The issuer can rotate its signing keys without a gateway restart; unknown key ids cannot make the
gateway hammer the issuer."""

from __future__ import annotations

import httpx

from tests.support.oidc_issuer import SigningKey, TestIssuer

from .conftest import GatewayFactory


def status(gateway: str, token: str) -> int:
    return httpx.get(f"{gateway}/adapters", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_signed_with_a_rotated_key_is_accepted_without_restart(
    start_gateway: GatewayFactory, issuer: TestIssuer
) -> None:
    with start_gateway() as gateway:
        old_token = issuer.mint()
        assert status(gateway, old_token) == 200  # the old key set is cached now
        issuer.rotate()
        fetches = issuer.count("/keys")
        assert status(gateway, issuer.mint()) == 200
        assert issuer.count("/keys") == fetches + 1
        # The retired key is no longer published, so its tokens stop working.
        assert status(gateway, old_token) == 401


def test_unknown_key_ids_refresh_the_keys_at_most_once_per_interval(
    start_gateway: GatewayFactory, issuer: TestIssuer
) -> None:
    with start_gateway(jwks_refresh_min_interval_seconds=3600) as gateway:
        assert status(gateway, issuer.mint()) == 200
        fetches = issuer.count("/keys")
        for n in range(5):
            assert status(gateway, issuer.mint(key=SigningKey(f"random-{n}"))) == 401
        assert issuer.count("/keys") == fetches
        # Within the interval a rotation is not seen yet: the price of the rate limit.
        issuer.rotate()
        assert status(gateway, issuer.mint()) == 401
        assert issuer.count("/keys") == fetches
