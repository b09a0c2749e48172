"""The inbound token stops at the gateway: adapters see the gateway's identity headers, logs never the token."""

from __future__ import annotations

import logging
import threading

import httpx
import pytest

from tests.support.oidc_issuer import TestIssuer

from .conftest import Backend, GatewayFactory
from .test_token_validation import INITIALIZE, MCP_HEADERS


def create_capture_adapter(gateway: str, issuer: TestIssuer, backend: Backend, name: str) -> None:
    response = httpx.post(f"{gateway}/adapters", json={"name": name, "url": backend.url, "requiredRoles": []},
                          headers={"Authorization": f"Bearer {issuer.mint(oid='alice')}"})
    assert response.status_code in (201, 409), response.text


def test_the_adapter_receives_the_gateway_identity_and_no_authorization_header(
    gateway: str, issuer: TestIssuer, backend: Backend
) -> None:
    create_capture_adapter(gateway, issuer, backend, "cap")
    token = issuer.mint(oid="alice", roles=["mcp.engineer"])
    spoofed = {"X-Mcp-UserId": "root", "X-Mcp-Roles": "mcp.admin", "X-Dev-UserId": "root"}
    before = len(backend.capture.seen)
    response = httpx.post(f"{gateway}/adapters/cap/mcp", json=INITIALIZE,
                          headers={**MCP_HEADERS, **spoofed, "Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text

    (received,) = backend.capture.seen[before:]
    assert "authorization" not in received
    assert "x-dev-userid" not in received
    assert received["x-mcp-userid"] == "alice"
    assert received["x-mcp-roles"] == "mcp.engineer"
    assert not any(token in value for value in received.values())


def test_logs_never_contain_the_token(
    start_gateway: GatewayFactory, issuer: TestIssuer, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    access = logging.getLogger("uvicorn.access")
    with start_gateway(log_level="info") as gateway:
        # uvicorn configures its loggers when the server is created, so listen only after that.
        access.addHandler(caplog.handler)
        try:
            create_capture_adapter(gateway, issuer, backend, "logged")
            good = issuer.mint(oid="alice")
            expired = issuer.mint(oid="alice", exp=1, iat=0, nbf=None)
            for params, header in (({"access_token": good}, None), ({}, expired), ({}, good)):
                auth = {"Authorization": f"Bearer {header}"} if header else {}
                httpx.post(f"{gateway}/adapters/logged/mcp", json=INITIALIZE, params=params,
                           headers={**MCP_HEADERS, **auth})
                httpx.get(f"{gateway}/adapters", params=params, headers=auth)
        finally:
            access.removeHandler(caplog.handler)
    # The test's own HTTP client logs the URLs it sends; only what the gateway's threads logged counts.
    test_thread = threading.get_ident()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.thread != test_thread)
    assert "/adapters/logged/mcp?access_token=REDACTED" in logged  # the access log was captured, redacted
    for token in (good, expired):
        assert token not in logged
        assert token.split(".")[2] not in logged  # not even the signature part
