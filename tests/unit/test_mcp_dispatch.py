"""The MCP routes are served ahead of FastAPI's stack: a bug inside the proxy still gets a JSON-RPC answer.

The fault is injected (the authenticator raises an unexpected error) because no real part fails this way.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.proxy.routes import is_mcp_path
from gateway.settings import GatewaySettings


async def _explode(*_: Any) -> None:
    raise RuntimeError("boom: internal detail")


async def test_an_unexpected_error_in_the_proxy_is_a_jsonrpc_500_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(GatewaySettings.model_validate({"store": {"kind": "memory"}, "router": {"replicas": 0}}))
    app.state.ctx.authenticator.authenticate = _explode
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    with caplog.at_level(logging.ERROR, logger="gateway.proxy.mcp_proxy"):
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.post("/adapters/any/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["error"] == {
        "code": -32603,
        "message": "The gateway failed to proxy this request.",
        "data": {"requestId": request_id},
    }
    assert "boom" not in response.text
    assert any(r.exc_info and "boom: internal detail" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/servers/dev-tools/mcp", True),
        ("/servers/dev-tools/mcp/", True),
        ("/servers/dev-tools", False),
        ("/servers/dev-tools/status", False),
        ("/servers/a/b/mcp", False),
        ("/tools/weather/mcp", False),
    ],
)
def test_virtual_server_mcp_paths_are_the_data_planes(path: str, served: bool) -> None:
    assert is_mcp_path(path) is served


async def test_a_virtual_server_route_answers_json_rpc_errors_too(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(GatewaySettings.model_validate({"store": {"kind": "memory"}, "router": {"replicas": 0}}))
    app.state.ctx.authenticator.authenticate = _explode
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    with caplog.at_level(logging.ERROR, logger="gateway.proxy.mcp_proxy"):
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.post("/servers/any/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            put = await client.put("/servers/any/mcp", json={})
    assert response.status_code == 500 and response.json()["error"]["code"] == -32603
    assert put.status_code == 405 and put.headers["allow"] == "POST, GET, DELETE"
    assert put.json()["error"]["message"].startswith("PUT is not an MCP method")
