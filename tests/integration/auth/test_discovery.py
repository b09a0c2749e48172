"""MCP clients find the authorization server by themselves: 401 challenge -> RFC 9728 metadata -> the
issuer's RFC 8414 metadata -> sign-in. The ``mcp`` SDK's own OAuth client drives the flow here."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests.support.oidc_issuer import TENANT_PATH, TestIssuer

from .conftest import AUDIENCE, SCOPE, Backend, GatewayFactory

REDIRECT = "http://127.0.0.1:33418/callback"


class PreRegisteredClient:
    """Token storage holding a pre-registered public client, as VS Code is pre-authorized in Entra."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client = OAuthClientInformationFull(client_id="vscode", redirect_uris=[REDIRECT],  # type: ignore[list-item]
                                                 token_endpoint_auth_method="none")

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def test_the_metadata_document_names_the_issuer_for_each_path(gateway: str, issuer: TestIssuer) -> None:
    root = httpx.get(f"{gateway}/.well-known/oauth-protected-resource")
    suffixed = httpx.get(f"{gateway}/.well-known/oauth-protected-resource/adapters/cap/mcp")
    assert root.status_code == suffixed.status_code == 200
    assert root.json() == {"resource": gateway, "authorization_servers": [issuer.issuer],
                           "scopes_supported": [SCOPE], "bearer_methods_supported": ["header"]}
    assert suffixed.json()["resource"] == f"{gateway}/adapters/cap/mcp"


def test_development_mode_serves_no_metadata() -> None:
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(GatewaySettings.model_validate({"store": {"kind": "memory"}, "router": {"replicas": 0}}))
    with TestClient(app) as client:
        assert client.get("/.well-known/oauth-protected-resource/mcp").status_code == 404


async def test_the_mcp_sdk_client_signs_in_through_the_gateway_challenge(
    start_gateway: GatewayFactory, issuer: TestIssuer, backend: Backend
) -> None:
    with start_gateway() as gateway:
        async with httpx.AsyncClient() as admin:
            created = await admin.post(f"{gateway}/adapters", json={"name": "cap", "url": backend.url},
                                       headers={"Authorization": f"Bearer {issuer.mint(oid='alice')}"})
        assert created.status_code == 201, created.text
        server_url = f"{gateway}/adapters/cap/mcp"
        sent: list[str] = []
        authorization_urls: list[str] = []

        async def record(request: httpx2.Request) -> None:
            sent.append(str(request.url))

        async def open_browser(url: str) -> None:
            authorization_urls.append(url)

        async def sign_in() -> AuthorizationCodeResult:
            # The "browser": the test issuer signs the user in at once and redirects back with a code.
            async with httpx.AsyncClient() as browser:
                redirect = (await browser.get(authorization_urls[-1])).headers["location"]
            query = parse_qs(urlsplit(redirect).query)
            return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])

        provider = OAuthClientProvider(
            server_url=server_url,
            client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT],  # type: ignore[list-item]
                                                token_endpoint_auth_method="none"),
            storage=PreRegisteredClient(), redirect_handler=open_browser, callback_handler=sign_in,
        )
        issuer.token_claims = {"oid": "alice", "aud": AUDIENCE}
        before = len(backend.capture.seen)
        http = httpx2.AsyncClient(auth=provider, event_hooks={"request": [record]})
        async with http, Client(streamable_http_client(server_url, http_client=http)) as client:
            tools = await client.list_tools()

    assert [t.name for t in tools.tools] == ["whoami"]
    assert f"{gateway}/.well-known/oauth-protected-resource/adapters/cap/mcp" in sent
    assert f"/.well-known/oauth-authorization-server{TENANT_PATH}" in issuer.requests
    (url,) = authorization_urls
    assert url.startswith(f"{issuer.issuer}/authorize?")
    params = issuer.authorize_params[-1]
    assert params["resource"] == server_url
    assert params["scope"] == SCOPE
    assert params["code_challenge_method"] == "S256"
    assert all("authorization" not in headers for headers in backend.capture.seen[before:])
    assert backend.capture.seen[-1]["x-mcp-userid"] == "alice"
