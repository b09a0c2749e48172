"""Every request needs a valid bearer token from the trusted issuer; anything else gets the RFC 9728
challenge, on the REST API and on the MCP paths alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.oidc_issuer import SigningKey, TestIssuer
from tests.support.ports import free_port

from .conftest import SCOPE, GatewayFactory

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PATHS = [("GET", "/adapters"), ("GET", "/tools/any/status"), ("POST", "/adapters/cap/mcp"), ("POST", "/mcp")]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_with_public_key(issuer: TestIssuer) -> str:
    """The classic algorithm-confusion attack: HS256 keyed with the issuer's public key."""
    pem = issuer.active.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.active.kid}).encode())
    now = int(time.time())
    body = _b64(json.dumps({"iss": issuer.issuer, "aud": "api://gateway", "exp": now + 300, "oid": "x"}).encode())
    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


BAD_TOKENS: dict[str, Callable[[TestIssuer], str]] = {
    "expired": lambda i: i.mint(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=None),
    "not yet valid": lambda i: i.mint(nbf=int(time.time()) + 3600),
    "wrong audience": lambda i: i.mint(aud="api://someone-else"),
    "wrong issuer": lambda i: i.mint(iss="https://login.example.com/other/v2.0"),
    "no expiry": lambda i: i.mint(exp=None),
    "bad signature": lambda i: i.mint(key=SigningKey(i.active.kid)),
    "alg none": lambda i: i.mint_unsigned(),
    "hmac with the public key": hmac_with_public_key,
    "unknown key": lambda i: i.mint(key=SigningKey("never-published")),
    "not a jwt": lambda i: "not-a-jwt",
}


def send(gateway: str, method: str, path: str, headers: dict[str, str], params: dict[str, str] | None = None
         ) -> httpx.Response:
    body = INITIALIZE if method == "POST" else None
    return httpx.request(method, gateway + path, headers={**MCP_HEADERS, **headers}, json=body, params=params)


def assert_challenged(response: httpx.Response, gateway: str, path: str, token_presented: bool) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{gateway}/.well-known/oauth-protected-resource{path}"' in challenge
    assert f'scope="{SCOPE}"' in challenge  # MCP clients ask for this scope first
    assert ('error="invalid_token"' in challenge) is token_presented


def test_a_valid_token_is_accepted(gateway: str, issuer: TestIssuer) -> None:
    response = httpx.get(f"{gateway}/adapters", headers={"Authorization": f"Bearer {issuer.mint()}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_gets_401_with_the_challenge_for_the_requested_path(
    gateway: str, issuer: TestIssuer, case: str, method: str, path: str
) -> None:
    token = BAD_TOKENS[case](issuer)
    response = send(gateway, method, path, {"Authorization": f"Bearer {token}"})
    assert_challenged(response, gateway, path, token_presented=True)


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_a_missing_token_gets_the_challenge_without_an_error_code(gateway: str, method: str, path: str) -> None:
    assert_challenged(send(gateway, method, path, {}), gateway, path, token_presented=False)
    basic = send(gateway, method, path, {"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert_challenged(basic, gateway, path, token_presented=False)


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_a_valid_token_in_the_query_string_is_refused(
    gateway: str, issuer: TestIssuer, method: str, path: str
) -> None:
    response = send(gateway, method, path, {}, params={"access_token": issuer.mint()})
    assert_challenged(response, gateway, path, token_presented=True)


def test_development_headers_do_not_authenticate_in_token_mode(gateway: str) -> None:
    response = httpx.get(f"{gateway}/adapters", headers={"X-Dev-UserId": "root", "X-Dev-Roles": "mcp.admin"})
    assert response.status_code == 401


def test_an_unreachable_issuer_makes_validation_unavailable_not_unauthenticated(
    start_gateway: GatewayFactory, issuer: TestIssuer
) -> None:
    dead_issuer = f"http://127.0.0.1:{free_port()}/tenant-a/v2.0"
    with start_gateway(issuer=dead_issuer) as gateway:
        token = issuer.mint(iss=dead_issuer)
        response = httpx.get(f"{gateway}/adapters", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503, response.text
        assert "token issuer" in response.json()["detail"]
        # A request without any token is still a plain 401: no key is needed to say "sign in".
        assert httpx.get(f"{gateway}/adapters").status_code == 401
