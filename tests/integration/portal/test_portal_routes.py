"""The portal's routes on a real socket: the redirect from ``/``, the page for its own routes, the
assets, ``GET /portal/config`` in each authentication mode, the security headers, and 404 problems for
anything else, including path traversal attempts sent as raw bytes (no client library normalises them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.rawhttp import raw_request
from tests.support.servers import UvicornThread


def settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings.model_validate({"store": {"kind": "memory"}, "router": {"replicas": 0}, **overrides})


@pytest.fixture(scope="module")
def gateway() -> Iterator[UvicornThread]:
    with UvicornThread(create_app(settings()), lifespan="on", loop="asyncio") as server:
        yield server


@pytest.fixture(scope="module")
def client(gateway: UvicornThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url) as http:
        yield http


def test_the_root_and_portal_without_slash_redirect_to_the_portal(client: httpx.Client) -> None:
    for path in ("/", "/portal"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["location"] == "/portal/"


@pytest.mark.parametrize("path", ["/portal/", "/portal/adapters", "/portal/tools/new", "/portal/servers/x/edit",
                                  "/portal/console"])
def test_the_page_is_served_for_its_own_routes_with_the_security_headers(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/portal/assets/js/main.js">' in response.text
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_assets_have_their_types_and_are_revalidated(client: httpx.Client) -> None:
    script = client.get("/portal/assets/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "no-cache"
    assert "content-security-policy" in script.headers
    again = client.get("/portal/assets/js/main.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/portal/assets/portal.css").headers["content-type"] == "text/css; charset=utf-8"


def test_the_page_loads_nothing_from_another_origin(client: httpx.Client) -> None:
    page = client.get("/portal/").text
    assert "http://" not in page and "https://" not in page
    for asset in ("js/main.js", "portal.css"):
        assert "https://" not in client.get(f"/portal/assets/{asset}").text


@pytest.mark.parametrize("path", ["/portal/assets/nope.js", "/portal/nope", "/portal/adapters/a/b/c",
                                  "/portal/assets/js", "/portal/assets/.hidden"])
def test_unknown_paths_are_404_problems(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("target", [
    "/portal/assets/../../settings.py",
    "/portal/assets/../static/index.html",
    "/portal/assets/js/../../../app.py",
    "/portal/assets/%2e%2e/%2e%2e/settings.py",
    "/portal/assets/%2E%2E%2F%2E%2E%2Fsettings.py",
    "/portal/assets/..%2f..%2fsettings.py",
    "/portal/assets/..%5c..%5csettings.py",
    "/portal/assets//etc/passwd",
    "/portal/assets/%2fetc%2fpasswd",
    "/portal/assets/portal.css%00.js",
    "/portal/assets/js/main.js/..",
    "/portal/../gateway/settings.py",
    "/portal/assets/....//....//settings.py",
])
def test_path_traversal_reaches_nothing_outside_the_assets(gateway: UvicornThread, target: str) -> None:
    response = raw_request(gateway.port, "GET", target, [])
    assert response.status in (400, 404), (target, response.status)
    body = response.body.decode(errors="replace")
    assert "GatewaySettings" not in body and "root:" not in body and "create_app" not in body


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, {"authMode": "dev", "signIn": None}),
    ({"auth": {"mode": "oidc", "issuer": "https://login.example.com/t", "audience": ["api://gw"],
               "scopes_supported": ["api://gw/access"]},
      "portal": {"client_id": "spa"}},
     {"authMode": "oidc", "signIn": {"issuer": "https://login.example.com/t", "clientId": "spa",
                                     "scopes": ["openid", "api://gw/access"], "redirectPath": "/portal/"}}),
    ({"auth": {"mode": "entra", "tenant_id": "tid", "client_id": "cid"}},
     {"authMode": "entra", "signIn": {"issuer": "https://login.microsoftonline.com/tid/v2.0", "clientId": "cid",
                                      "scopes": ["openid", "api://cid/.default"], "redirectPath": "/portal/"}}),
    ({"auth": {"mode": "oidc", "issuer": "https://id.example.com", "audience": ["a"]},
      "portal": {"scopes": ["openid", "profile", "gw"]}},
     {"authMode": "oidc", "signIn": {"issuer": "https://id.example.com", "clientId": None,
                                     "scopes": ["openid", "profile", "gw"], "redirectPath": "/portal/"}}),
])
async def test_the_config_names_the_mode_and_how_to_sign_in(
    overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    app = create_app(settings(server={"public_url": "https://gw.example.com/base"}, **overrides))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/portal/config")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert body["publicOrigin"] == "https://gw.example.com"
    if expected["signIn"]:
        issuer_origin = "/".join(expected["signIn"]["issuer"].split("/")[:3])
        assert issuer_origin in response.headers["content-security-policy"].split("connect-src")[1].split(";")[0]


def test_the_config_defaults_the_public_origin_to_the_request(client: httpx.Client, gateway: UvicornThread) -> None:
    assert client.get("/portal/config").json()["publicOrigin"] == gateway.url


async def test_a_disabled_portal_is_not_served() -> None:
    app = create_app(settings(portal={"enabled": False}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/portal/")).status_code == 404
        assert (await http.get("/")).status_code == 404
