"""Signing in to the portal against a real OpenID provider (tests/support/oidc_issuer.py) with the
authorization code flow and PKCE, the gateway in ``oidc`` mode: the page redirects to the issuer, comes
back with the code in the fragment, redeems it with the verifier, and calls the API with the bearer
token, which stays in memory (no storage, no URL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.browser.conftest import DESKTOP, Screenshots, serious_violations
from tests.support.oidc_issuer import TENANT_PATH, TestIssuer
from tests.support.servers import UvicornThread

pytestmark = [pytest.mark.slow, pytest.mark.browser]

AUDIENCE = "api://gateway"
SCOPE = "api://gateway/access"
CLIENT_ID = "portal-spa"


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    provider = TestIssuer()
    with UvicornThread(provider.app, lifespan="on", loop="asyncio") as server:
        provider.issuer = server.url + TENANT_PATH
        provider.token_claims = {"oid": "alice", "name": "Alice Example"}
        yield provider


@pytest.fixture(scope="module")
def gateway(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = GatewaySettings.model_validate({
        "server": {"data_dir": str(tmp_path_factory.mktemp("gw"))},
        "store": {"kind": "memory"},
        "router": {"replicas": 0},
        "auth": {"mode": "oidc", "issuer": issuer.issuer, "audience": [AUDIENCE], "scopes_supported": [SCOPE]},
        "portal": {"client_id": CLIENT_ID},
    })
    with UvicornThread(create_app(settings), lifespan="on", loop="asyncio") as server:
        yield server.url


def test_sign_in_with_pkce_and_use_the_api_as_the_signed_in_user(
    browser: Any, gateway: str, issuer: TestIssuer, axe_script: str, screenshots: Screenshots
) -> None:
    token = issuer.mint(oid="alice")
    created = httpx.post(f"{gateway}/servers", json={"name": "alice-tools", "description": "Alice's selection"},
                         headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text

    context = browser.new_context(viewport=DESKTOP, base_url=gateway)
    context.set_default_timeout(15_000)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto("/portal/servers")
        page.get_by_role("heading", name="Sign in", level=1).wait_for()
        assert serious_violations(page, axe_script) == []
        screenshots.take(page, "portal-sign-in")
        page.get_by_role("button", name="Sign in with your organization").click()

        page.wait_for_url(re.compile(r"/portal/servers$"))
        page.get_by_test_id("identity-name").filter(has_text="Alice Example").wait_for()
        page.get_by_role("link", name="alice-tools").wait_for()

        sent = issuer.authorize_params[-1]
        assert sent["client_id"] == CLIENT_ID
        assert sent["code_challenge_method"] == "S256"
        assert sent["response_mode"] == "fragment"
        assert sent["redirect_uri"] == f"{gateway}/portal/"
        assert sent["scope"].split() == ["openid", SCOPE]
        assert issuer.codes == {}  # redeemed, with the verifier (the issuer checks it)
        # The code came back in the fragment: no request to the gateway carried it.
        assert not [url for url in requested if url.startswith(gateway) and "code=" in url]
        assert "#" not in page.url and "code" not in page.url
        stored = page.evaluate("() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
        assert "eyJ" not in stored  # no token (a JWT) in web storage

        # Another page of the portal: the in-memory token goes along as a bearer token.
        page.get_by_role("link", name="alice-tools").click()
        page.get_by_role("heading", name="alice-tools", level=1).wait_for()
        page.get_by_text("Alice's selection", exact=True).wait_for()

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in", level=1).wait_for()
    finally:
        context.close()


def test_the_issuer_refuses_a_code_without_the_right_verifier(issuer: TestIssuer, gateway: str) -> None:
    redirect = f"{gateway}/portal/"
    answer = httpx.get(f"{issuer.issuer}/authorize", params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect, "state": "s",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    code = re.search(r"code=([\w-]+)", answer.headers["location"]).group(1)  # type: ignore[union-attr]
    refused = httpx.post(f"{issuer.issuer}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": CLIENT_ID,
        "code_verifier": "not-the-verifier"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    again = httpx.post(f"{issuer.issuer}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": CLIENT_ID,
        "code_verifier": "x"})
    assert again.json()["error"] == "invalid_grant"  # a code is used once, even when the first try failed
