"""Who may see and call what, and who may talk to the router at all (real router, real SDK client)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from router_harness import SECRET, Connect, RouterUnderTest, ToolServer, gateway_headers

from tests.rawhttp import raw_request

DENIED = "not found, or you do not have permission to call it"

# (user, roles) -> the tools that caller may read. Tools: see _register_matrix.
MATRIX: list[tuple[str | None, list[str], set[str]]] = [
    ("alice", [], {"eng-tool", "alice-only"}),
    ("ALICE", [], {"eng-tool", "alice-only"}),
    ("bob", [], {"bob-tool"}),
    ("carol", ["mcp.engineer"], {"eng-tool"}),
    ("dave", ["DATA.READER"], {"bob-tool"}),
    ("erin", ["MCP.Admin"], {"eng-tool", "alice-only", "bob-tool"}),
    ("frank", ["other", "mcp.dev"], set()),
    (None, ["mcp.admin"], set()),
]
ALL_TOOLS = {"eng-tool", "alice-only", "bob-tool"}


async def _register_matrix(router: RouterUnderTest, tool_server: ToolServer) -> None:
    url = f"{tool_server.url}/ok"
    router.catalog.put("eng-tool", [url], created_by="alice", required_roles=["mcp.engineer"])
    router.catalog.put("alice-only", [url], created_by="alice", required_roles=[])
    router.catalog.put("bob-tool", [url], created_by="bob", required_roles=["Data.Reader"])
    await router.synced()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(("user", "roles", "expected"), MATRIX, ids=[f"{u}-{','.join(r)}" for u, r, _ in MATRIX])
async def test_tools_list_shows_exactly_the_tools_the_caller_may_read(
    router: RouterUnderTest,
    tool_server: ToolServer,
    connect: Connect,
    mode: str,
    user: str | None,
    roles: list[str],
    expected: set[str],
) -> None:
    await _register_matrix(router, tool_server)
    async with connect(user, roles, mode=mode) as client:
        listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == expected


@pytest.mark.parametrize(("user", "roles", "expected"), MATRIX, ids=[f"{u}-{','.join(r)}" for u, r, _ in MATRIX])
async def test_tools_call_runs_readable_tools_and_refuses_the_others_without_revealing_them(
    router: RouterUnderTest,
    tool_server: ToolServer,
    connect: Connect,
    user: str | None,
    roles: list[str],
    expected: set[str],
) -> None:
    await _register_matrix(router, tool_server)
    async with connect(user, roles) as client:
        for name in sorted(ALL_TOOLS | {"no-such-tool"}):
            result = await client.call_tool(name, {"n": 1})
            if name in expected:
                assert not result.is_error, (name, result)
                assert result.structured_content == {"echo": {"n": 1}, "ok": True}
            else:
                assert result.is_error, name
                # A hidden tool and a missing tool answer the same sentence: no existence oracle.
                assert result.content[0].text == f"Tool '{name}' {DENIED}."  # type: ignore[union-attr]


async def test_a_listed_tool_carries_its_registered_definition(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    router.catalog.put("described", [f"{tool_server.url}/ok"], input_schema=schema, description="Says things.")
    await router.synced()
    async with connect("alice") as client:
        (tool,) = (await client.list_tools()).tools
    assert (tool.name, tool.title, tool.description) == ("described", "Described", "Says things.")
    assert tool.input_schema == schema
    assert tool.annotations is not None and tool.annotations.read_only_hint is True


def _initialize_body() -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "1"},
        },
    }


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("secret", [None, "wrong-secret", "", SECRET + "x"])
async def test_a_request_without_the_right_gateway_secret_gets_401(router: RouterUnderTest, secret: str | None) -> None:
    headers = {**MCP_HEADERS, **gateway_headers("alice", ["mcp.admin"], secret=secret)}
    async with router.http() as http:
        response = await http.post(router.mcp_url, headers=headers, content=json.dumps(_initialize_body()))
        get = await http.get(router.mcp_url, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert get.status_code == 401


async def test_the_health_endpoint_answers_without_the_secret(router: RouterUnderTest) -> None:
    async with router.http() as http:
        response = await http.get(f"{router.base_url}/healthz")
    assert response.status_code == 200


async def test_a_session_opened_by_one_user_is_not_found_for_another(router: RouterUnderTest) -> None:
    list_body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
    async with router.http(timeout=10) as http:
        opened = await http.post(
            router.mcp_url,
            headers={**MCP_HEADERS, **gateway_headers("alice", ["mcp.admin"])},
            content=json.dumps(_initialize_body()),
        )
        assert opened.status_code == 200
        session_id = opened.headers["mcp-session-id"]
        session = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25", **MCP_HEADERS}
        as_bob = await http.post(
            router.mcp_url, headers={**session, **gateway_headers("bob", ["mcp.admin"])}, content=list_body
        )
        as_anonymous = await http.post(
            router.mcp_url, headers={**session, **gateway_headers(None, None)}, content=list_body
        )
        as_alice = await http.post(
            router.mcp_url, headers={**session, **gateway_headers("alice", ["mcp.admin"])}, content=list_body
        )
    assert as_bob.status_code == 404
    assert as_anonymous.status_code == 404
    assert as_alice.status_code == 200


@pytest.mark.parametrize(
    "duplicated",
    [
        [("X-Mcp-UserId", "alice"), ("X-Mcp-UserId", "bob")],
        [("X-Mcp-Roles", "mcp.user"), ("X-Mcp-Roles", "mcp.admin")],
        [("X-Gateway-Secret", SECRET), ("X-Gateway-Secret", SECRET)],
        [("Mcp-Session-Id", "one"), ("Mcp-Session-Id", "two")],
        [("Mcp-Session-Id", "one, two")],
    ],
    ids=["user", "roles", "secret", "session", "session-list"],
)
async def test_the_router_refuses_repeated_identity_and_session_headers(
    router_on_socket: RouterUnderTest, duplicated: list[tuple[str, str]]
) -> None:
    # Raw bytes over a socket: the SDK behind the router would act on the first of two values.
    port = urlsplit(router_on_socket.base_url).port
    assert port is not None
    names = {name.lower() for name, _ in duplicated}
    base = [(n, v) for n, v in gateway_headers("alice", ["mcp.user"]).items() if n.lower() not in names]
    body = json.dumps(_initialize_body()).encode()
    headers = [*MCP_HEADERS.items(), *base, *duplicated]
    response = raw_request(port, "POST", "/mcp", headers, body)
    assert response.status == 400
    assert response.json()["error"]["code"] == -32600
    assert "Ambiguous request" in response.json()["error"]["message"]
