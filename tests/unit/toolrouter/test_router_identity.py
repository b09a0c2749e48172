"""IdentityMiddleware and the forwarded principal, driven through a real ASGI call chain."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import Receive, Scope, Send

from gateway.auth.principal import Principal
from toolrouter.identity import IdentityMiddleware, principal_from_headers, principal_of


class Recorder:
    """The app behind the middleware: remembers the scope it was given."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(app: Any, headers: dict[str, str], path: str = "/mcp") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as http:
        return await http.post(path, headers=headers)


def test_the_principal_is_the_trimmed_user_id_with_normalised_roles() -> None:
    principal = principal_from_headers("  alice ", " MCP.Engineer, ,data.reader ,")
    assert principal == Principal(user_id="alice", name="alice", roles=frozenset({"mcp.engineer", "data.reader"}))


@pytest.mark.parametrize("user_id", [None, "", "   "])
def test_no_user_id_means_an_anonymous_caller(user_id: str | None) -> None:
    assert principal_from_headers(user_id, "mcp.admin") is None


@pytest.mark.parametrize("headers", [{}, {"X-Gateway-Secret": "nope"}, {"X-Gateway-Secret": "right "}])
async def test_a_wrong_or_missing_secret_is_refused_with_401_before_the_app_runs(headers: dict[str, str]) -> None:
    inner = Recorder()
    response = await _request(IdentityMiddleware(inner, secret="right"), {**headers, "X-Mcp-UserId": "alice"})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert inner.scope is None


async def test_the_right_secret_passes_the_principal_on_and_hides_the_identity_headers() -> None:
    inner = Recorder()
    headers = {"X-Gateway-Secret": "right", "X-Mcp-UserId": "alice", "X-Mcp-Roles": "mcp.engineer"}
    response = await _request(IdentityMiddleware(inner, secret="right"), headers)
    assert response.status_code == 200
    assert inner.scope is not None
    assert principal_of(inner.scope) == Principal("alice", "alice", frozenset({"mcp.engineer"}))
    names = {name for name, _ in inner.scope["headers"]}
    assert names.isdisjoint({b"x-gateway-secret", b"x-mcp-userid", b"x-mcp-roles"})
    # The SDK binds sessions to this user.
    assert isinstance(inner.scope["user"], AuthenticatedUser)
    assert inner.scope["user"].access_token.client_id == "alice"


async def test_without_a_configured_secret_requests_pass_and_an_anonymous_caller_has_no_user() -> None:
    inner = Recorder()
    response = await _request(IdentityMiddleware(inner, secret=None), {})
    assert response.status_code == 200
    assert inner.scope is not None
    assert principal_of(inner.scope) is None
    assert "user" not in inner.scope


async def test_the_health_probe_needs_no_secret() -> None:
    inner = Recorder()
    response = await _request(IdentityMiddleware(inner, secret="right"), {}, path="/healthz")
    assert response.status_code == 200
