"""Exchanging the deployer's Entra token for an ACR refresh token (push without an admin user)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from infra.components.acr_auth import exchange_refresh_token


def test_the_exchange_posts_the_entra_token_to_the_registry_and_returns_its_refresh_token() -> None:
    seen: list[tuple[str, dict[str, list[str]]]] = []

    def post(url: str, body: bytes) -> bytes:
        seen.append((url, urllib.parse.parse_qs(body.decode())))
        return json.dumps({"refresh_token": "acr-token"}).encode()

    assert exchange_refresh_token("reg.azurecr.io", "tenant", "aad", post=post) == "acr-token"
    url, form = seen[0]
    assert url == "https://reg.azurecr.io/oauth2/exchange"
    assert form == {
        "grant_type": ["access_token"],
        "service": ["reg.azurecr.io"],
        "tenant": ["tenant"],
        "access_token": ["aad"],
    }


def test_a_response_without_a_refresh_token_is_an_error_that_mentions_acrpush() -> None:
    with pytest.raises(RuntimeError, match="AcrPush"):
        exchange_refresh_token("reg.azurecr.io", "t", "aad", post=lambda url, body: b"{}")


def test_a_login_server_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="login server"):
        exchange_refresh_token("evil.example/x", "t", "aad", post=lambda url, body: b"{}")
