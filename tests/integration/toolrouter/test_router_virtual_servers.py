"""Virtual servers (issue #19): the router serves a named selection of adapters' tools and registered tools.

Real router (in process, its lifespan running), real adapters (MCP servers on loopback threads, see
router_harness.py), the real SDK client in both protocol eras, and a catalog as the gateway sends it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from router_harness import SECRET, Adapter, Connect, RouterUnderTest, ToolServer, gateway_headers

ERAS = ["legacy", "auto"]
DENIED = "not found, or you do not have permission to call it"
ISSUES_TOOLS = ["get_issue", "get_user", "search_issues", "delete_issue", "broken"]


def text_of(result: Any) -> str:
    return str(result.content[0].text)


async def _dev_server(
    router: RouterUnderTest,
    adapter: Adapter,
    tool_server: ToolServer,
    *,
    issues: dict[str, Any] | None = None,
    **server: Any,
) -> None:
    """Server ``dev``: the adapter ``issues`` (member options ``issues``) and the registered tool ``echo``, all
    of them alice's, for role ``mcp.user``."""
    description = "Echoes its arguments."
    router.catalog.put("echo", [f"{tool_server.url}/ok"], description=description, required_roles=["mcp.user"])
    router.catalog.put_adapter("issues", [adapter.url], required_roles=["mcp.user"])
    router.catalog.put_server("dev", [{"adapter": "issues", **(issues or {})}, {"tool": "echo"}], **server)
    await router.synced()


# --- tools/list and tools/call ------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["issues_adapter", "legacy_issues_adapter"])
@pytest.mark.parametrize("mode", ERAS)
async def test_a_virtual_server_lists_and_calls_adapter_and_registered_tools(
    router: RouterUnderTest,
    connect: Connect,
    tool_server: ToolServer,
    request: pytest.FixtureRequest,
    mode: str,
    upstream: str,
) -> None:
    """Both downstream eras against an adapter that speaks both eras, and one that speaks only the handshake's."""
    adapter: Adapter = request.getfixturevalue(upstream)
    await _dev_server(router, adapter, tool_server)
    async with connect("alice", mode=mode, server="dev") as client:
        listed = (await client.list_tools()).tools
        issue = await client.call_tool("issues__get_issue", {"number": 3})
        echoed = await client.call_tool("echo", {"n": 1})
        failed = await client.call_tool("issues__broken", {})
    assert [t.name for t in listed] == [f"issues__{name}" for name in ISSUES_TOOLS] + ["echo"]
    get_issue = listed[0]
    assert get_issue.description == "Get one issue by number"
    assert get_issue.input_schema["required"] == ["number"]
    assert get_issue.annotations is not None and get_issue.annotations.read_only_hint is True
    assert listed[-1].description == "Echoes its arguments."
    # The adapter's result as it sent it (content and structuredContent); the registered tool's as today.
    assert not issue.is_error
    assert issue.structured_content == {"number": 3, "title": "Issue 3", "state": "open"}
    assert json.loads(text_of(issue)) == issue.structured_content
    # Only the adapter's own serverInfo stamp (2026-07-28 results) is not passed on: the router stamps its own.
    stamp = (issue.meta or {}).get("io.modelcontextprotocol/serverInfo")
    assert stamp is None or stamp["name"] == "mcp-gateway-virtual-server"
    assert echoed.structured_content == {"echo": {"n": 1}, "ok": True}
    # An adapter's own isError result is passed on as such.
    assert failed.is_error and "the issue tracker is on fire" in text_of(failed)


@pytest.mark.parametrize("mode", ERAS)
async def test_the_real_sample_mcp_server_as_a_member(
    router: RouterUnderTest, connect: Connect, example_adapter: Adapter, mode: str
) -> None:
    router.catalog.put_adapter("mcp-example", [example_adapter.url])
    router.catalog.put_server("math", [{"adapter": "mcp-example"}])
    await router.synced()
    async with connect("alice", mode=mode, server="math") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["mcp-example__add"]
        result = await client.call_tool("mcp-example__add", {"a": 2, "b": 40})
    assert not result.is_error and result.structured_content == {"result": 42}


async def test_the_adapter_gets_the_callers_identity_and_never_the_secret(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _dev_server(router, issues_adapter, tool_server, required_roles=["mcp.user"])
    before = len(issues_adapter.received)
    async with connect("carol", ["MCP.User", "Reporter"], server="dev") as client:
        await client.list_tools()
        await client.call_tool("issues__get_issue", {"number": 1})
    received = issues_adapter.received[before:]
    assert received, "the adapter was not asked"
    for headers in received:
        # What the gateway's data plane sends an adapter: the user and the sorted, lower-cased roles.
        assert headers["x-mcp-userid"] == "carol"
        assert headers["x-mcp-roles"] == "mcp.user,reporter"
        assert not {"x-gateway-secret", "authorization", "cookie", "x-mcp-virtual-server"} & set(headers)
        assert SECRET not in json.dumps(headers)


# --- filters and overrides ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "visible"),
    [
        ({"include": ["get_*"]}, ["get_issue", "get_user"]),
        ({"include": ["get_*", "search_*"], "exclude": ["get_user"]}, ["get_issue", "search_issues"]),
        ({"exclude": ["*issue*"]}, ["get_user", "broken"]),
        ({"readOnly": True}, ["get_issue", "get_user", "search_issues"]),
        ({"readOnly": True, "exclude": ["search_issues"]}, ["get_issue", "get_user"]),
        ({"include": [], "exclude": [], "readOnly": False, "overrides": {}}, ISSUES_TOOLS),  # the gateway's "all"
    ],
)
async def test_include_exclude_and_read_only_filter_what_is_listed_and_what_can_be_called(
    router: RouterUnderTest,
    connect: Connect,
    issues_adapter: Adapter,
    tool_server: ToolServer,
    options: dict[str, Any],
    visible: list[str],
) -> None:
    await _dev_server(router, issues_adapter, tool_server, issues=options)
    async with connect("alice", server="dev") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        results = {name: await client.call_tool(f"issues__{name}", {"number": 1}) for name in ISSUES_TOOLS}
    assert listed == [f"issues__{name}" for name in visible] + ["echo"]
    for name, result in results.items():
        if name in visible:
            assert "not found" not in text_of(result), name
        else:
            # Filtered out: cannot be called by name either, and says so as a missing tool would.
            assert result.is_error and text_of(result) == f"Tool 'issues__{name}' {DENIED}.", name


@pytest.mark.parametrize("mode", ERAS)
async def test_overrides_rename_and_redescribe_and_the_original_name_is_gone(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer, mode: str
) -> None:
    overrides = {
        "search_issues": {"alias": "find_issues", "description": "Find issues"},
        "get_user": {"description": "Who is this"},
    }
    router.catalog.put("echo", [f"{tool_server.url}/ok"])
    router.catalog.put_adapter("issues", [issues_adapter.url])
    members = [
        {"adapter": "issues", "include": ["search_issues", "get_user"], "overrides": overrides},
        {"tool": "echo", "overrides": {"echo": {"alias": "say", "description": "Says it back"}}},
    ]
    router.catalog.put_server("dev", members)
    await router.synced()
    async with connect("alice", mode=mode, server="dev") as client:
        listed = {t.name: t.description for t in (await client.list_tools()).tools}
        found = await client.call_tool("find_issues", {"query": "bug"})
        said = await client.call_tool("say", {"n": 2})
        by_original = await client.call_tool("issues__search_issues", {"query": "bug"})
        echo = await client.call_tool("echo", {"n": 2})
    assert listed == {"issues__get_user": "Who is this", "find_issues": "Find issues", "say": "Says it back"}
    assert found.structured_content == {"query": "bug", "found": [1, 2]}
    assert said.structured_content == {"echo": {"n": 2}, "ok": True}
    assert text_of(by_original) == f"Tool 'issues__search_issues' {DENIED}."
    assert text_of(echo) == f"Tool 'echo' {DENIED}."


async def test_a_name_two_members_expose_belongs_to_the_first(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    router.catalog.put("echo", [f"{tool_server.url}/ok"])
    router.catalog.put_adapter("issues", [issues_adapter.url])
    alias = {"get_issue": {"alias": "echo"}}
    members = [{"adapter": "issues", "include": ["get_issue"], "overrides": alias}, {"tool": "echo"}]
    router.catalog.put_server("dev", members)
    await router.synced()
    async with connect("alice", server="dev") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool("echo", {"number": 5})
    assert listed == ["echo"]
    assert result.structured_content == {"number": 5, "title": "Issue 5", "state": "open"}


# --- who may see what -----------------------------------------------------------------------------------------


def _access_catalog(router: RouterUnderTest, issues: Adapter, example: Adapter, tool_server: ToolServer) -> None:
    router.catalog.put("echo", [f"{tool_server.url}/ok"], created_by="alice", required_roles=["mcp.user"])
    router.catalog.put("ops-tool", [f"{tool_server.url}/ok"], created_by="alice", required_roles=["ops"])
    router.catalog.put_adapter("issues", [issues.url], created_by="alice", required_roles=["mcp.user"])
    router.catalog.put_adapter("mcp-example", [example.url], created_by="carol", required_roles=["ops"])
    members = [{"adapter": "issues", "include": ["get_issue"]}, {"adapter": "mcp-example"}, {"tool": "echo"}]
    router.catalog.put_server("dev", [*members, {"tool": "ops-tool"}], created_by="alice", required_roles=["mcp.user"])


@pytest.mark.parametrize(
    ("user", "roles", "expected"),
    [
        ("dave", ["mcp.user"], ["issues__get_issue", "echo"]),
        ("erin", ["mcp.user", "ops"], ["issues__get_issue", "mcp-example__add", "echo", "ops-tool"]),
        ("carol", ["mcp.user"], ["issues__get_issue", "mcp-example__add", "echo"]),
        ("root", ["mcp.admin"], ["issues__get_issue", "mcp-example__add", "echo", "ops-tool"]),
    ],
)
async def test_members_the_caller_may_not_read_are_invisible_and_uncallable(
    router: RouterUnderTest,
    connect: Connect,
    issues_adapter: Adapter,
    example_adapter: Adapter,
    tool_server: ToolServer,
    user: str,
    roles: list[str],
    expected: list[str],
) -> None:
    _access_catalog(router, issues_adapter, example_adapter, tool_server)
    await router.synced()
    async with connect(user, roles, server="dev") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        add = await client.call_tool("mcp-example__add", {"a": 1, "b": 1})
        ops = await client.call_tool("ops-tool", {})
    assert listed == expected
    assert add.is_error == ("mcp-example__add" not in expected)
    assert ops.is_error == ("ops-tool" not in expected)
    if add.is_error:
        assert text_of(add) == f"Tool 'mcp-example__add' {DENIED}."


async def refusal(connect: Connect, *args: Any, **kwargs: Any) -> MCPError:
    """The error that ends connecting (the SDK raises it inside exception groups)."""
    try:
        async with connect(*args, **kwargs):
            pass
    except BaseException as exc:
        leaf: BaseException = exc
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        assert isinstance(leaf, MCPError), repr(exc)
        return leaf
    raise AssertionError("connected")


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(("user", "roles", "server"), [("frank", ["other"], "dev"), ("dave", ["mcp.user"], "nope")])
async def test_a_server_the_caller_may_not_read_answers_as_if_it_did_not_exist(
    router: RouterUnderTest,
    connect: Connect,
    issues_adapter: Adapter,
    example_adapter: Adapter,
    tool_server: ToolServer,
    mode: str,
    user: str,
    roles: list[str],
    server: str,
) -> None:
    _access_catalog(router, issues_adapter, example_adapter, tool_server)
    await router.synced()
    before = len(issues_adapter.received)
    refused = await refusal(connect, user, roles, mode=mode, server=server)
    assert refused.code == -32602
    assert refused.error.message == f"Server '{server}' not found, or you do not have permission to use it."
    assert len(issues_adapter.received) == before
    # A refused initialize opened no session.
    assert not router.app.state.virtual_sessions


async def test_a_refused_initialize_opens_no_session(router: RouterUnderTest) -> None:
    headers = {**MCP_HEADERS, **gateway_headers("dave", ["mcp.user"], server="nope")}
    async with router.http() as http:
        response = await http.post(router.mcp_url, headers=headers, json=_initialize("2025-11-25"))
    assert response.status_code == 404
    assert "mcp-session-id" not in response.headers
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32602, "message": "Server 'nope' not found, or you do not have permission to use it."},
    }


async def test_an_anonymous_caller_sees_no_server(
    router: RouterUnderTest, issues_adapter: Adapter, example_adapter: Adapter, tool_server: ToolServer
) -> None:
    _access_catalog(router, issues_adapter, example_adapter, tool_server)
    await router.synced()
    body = _initialize("2025-11-25")
    headers = {**MCP_HEADERS, **gateway_headers(None, None, server="dev")}
    async with router.http() as http:
        response = await http.post(router.mcp_url, headers=headers, json=body)
    assert response.json()["error"]["code"] == -32602


# --- tool search ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_tool_search_only_lists_the_meta_tools_which_find_and_call_the_members(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer, mode: str
) -> None:
    await _dev_server(router, issues_adapter, tool_server, issues={"exclude": ["broken"]}, tool_search="only")
    async with connect("alice", mode=mode, server="dev") as client:
        listed = (await client.list_tools()).tools
        found = await client.call_tool("search_tools", {"query": "delete an issue", "limit": 2})
        everything = await client.call_tool("search_tools", {"query": "issue user echo arguments"})
        called = await client.call_tool("call_tool", {"name": "issues__get_issue", "arguments": {"number": 7}})
        echoed = await client.call_tool("call_tool", {"name": "echo", "arguments": {"n": 3}})
        filtered = await client.call_tool("call_tool", {"name": "issues__broken", "arguments": {}})
        bad_limit = await client.call_tool("search_tools", {"query": "x", "limit": 51})
        no_name = await client.call_tool("call_tool", {"arguments": {}})
    assert [t.name for t in listed] == ["search_tools", "call_tool"]
    assert found.structured_content is not None
    hits = found.structured_content["tools"]
    assert 1 <= len(hits) <= 2 and hits[0]["name"] == "issues__delete_issue"
    assert hits[0]["description"] == "Delete an issue for good" and hits[0]["inputSchema"]["required"] == ["number"]
    assert json.loads(text_of(found)) == found.structured_content
    names = {hit["name"] for hit in everything.structured_content["tools"]}
    assert "issues__broken" not in names and {"issues__get_user", "echo"} <= names
    assert called.structured_content == {"number": 7, "title": "Issue 7", "state": "open"}
    assert echoed.structured_content == {"echo": {"n": 3}, "ok": True}
    assert filtered.is_error and text_of(filtered) == f"Tool 'issues__broken' {DENIED}."
    assert bad_limit.is_error and "Invalid arguments for tool 'search_tools'" in text_of(bad_limit)
    assert no_name.is_error and "'name' is a required property" in text_of(no_name)


@pytest.mark.parametrize("mode", ERAS)
async def test_tool_search_beside_lists_the_meta_tools_and_the_members(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer, mode: str
) -> None:
    await _dev_server(router, issues_adapter, tool_server, issues={"include": ["get_issue"]}, tool_search="beside")
    async with connect("bob", ["mcp.admin"], mode=mode, server="dev") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        direct = await client.call_tool("issues__get_issue", {"number": 1})
        found = await client.call_tool("search_tools", {"query": "echo"})
    assert listed == ["search_tools", "call_tool", "issues__get_issue", "echo"]
    assert not direct.is_error
    assert [hit["name"] for hit in found.structured_content["tools"]] == ["echo"]


# --- failures -------------------------------------------------------------------------------------------------


async def test_a_member_that_is_down_is_left_out_of_the_list(
    router: RouterUnderTest,
    connect: Connect,
    issues_adapter: Adapter,
    tool_server: ToolServer,
    closed_port_url: str,
) -> None:
    router.catalog.put("echo", [f"{tool_server.url}/ok"])
    router.catalog.put_adapter("issues", [issues_adapter.url])
    router.catalog.put_adapter("down", [closed_port_url])
    router.catalog.put_adapter("starting", [])  # no ready replica yet
    # A remote adapter at a loopback address: the SSRF guard refuses it (the router was not told it runs in
    # development, so loopback is refused).
    router.catalog.put_adapter("sneaky", [issues_adapter.url], remote=True)
    members = [{"adapter": name} for name in ("down", "starting", "sneaky", "issues")] + [{"tool": "echo"}]
    router.catalog.put_server("dev", [{**m, "include": ["get_issue"]} for m in members[:-1]] + [members[-1]])
    await router.synced()
    before = len(issues_adapter.received)
    # A 2026-07-28 client: the router then talks 2026-07-28 to the adapter too, whose requests name their method
    # in a header the recorder sees (a handshake-era client's upstream session would initialize first).
    async with connect("alice", server="dev", mode="auto") as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        refused = await client.call_tool("sneaky__get_issue", {"number": 1})
    assert listed == ["issues__get_issue", "echo"]
    assert text_of(refused) == f"Tool 'sneaky__get_issue' {DENIED}."
    # Nothing of the remote member reached the adapter's address: what it received is the `issues` member's
    # server/discover and tools/list (this router's first contact with that url), and nothing else.
    methods = [h.get("mcp-method") for h in issues_adapter.received[before:]]
    assert methods == ["server/discover", "tools/list"]


async def test_an_adapter_that_goes_away_after_listing_gives_an_error_result(
    router: RouterUnderTest, connect: Connect, tool_server: ToolServer
) -> None:
    from router_harness import issues_app, threaded

    router.catalog.put_adapter("issues", [])
    with threaded(issues_app()) as server:
        router.catalog.put_adapter("issues", [f"{server.url}/mcp"])
        router.catalog.put_server("dev", [{"adapter": "issues"}])
        await router.synced()
        async with connect("alice", server="dev") as client:
            assert len((await client.list_tools()).tools) == len(ISSUES_TOOLS)
            server.stop()
            result = await client.call_tool("issues__get_issue", {"number": 1})
    assert result.is_error
    assert text_of(result) == "Tool 'issues__get_issue' is unreachable: connection refused or host not found."


async def test_malformed_catalog_entries_are_skipped(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _dev_server(router, issues_adapter, tool_server)
    router.catalog.put_raw("adapters", "x", "not an object")
    router.catalog.put_raw("adapters", "Bad_Name", {"name": "Bad_Name", "createdBy": "alice", "urls": []})
    router.catalog.put_raw("servers", "broken", {"name": "broken", "createdBy": "alice", "members": "nope"})
    router.catalog.put_raw("servers", "odd", {"name": "odd", "createdBy": "alice", "members": [], "toolSearch": "x"})
    members = [{"adapter": "issues", "include": "get_*"}, {"tool": "echo"}, {"adapter": "Bad_Name"}, 42]
    router.catalog.put_raw("servers", "partly", {"name": "partly", "createdBy": "alice", "members": members})
    await router.synced()
    async with connect("alice", server="dev") as client:
        assert len((await client.list_tools()).tools) == len(ISSUES_TOOLS) + 1
    async with connect("alice", server="partly") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
    for name in ("broken", "odd"):
        assert (await refusal(connect, "alice", server=name)).code == -32602


# --- the plain /mcp and the request's framing -------------------------------------------------------------------


@pytest.mark.parametrize("router", [{"aggregate_adapters": False}], indirect=True)
async def test_plain_mcp_lists_only_the_registered_tools_without_aggregation(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    """MCPGW_ROUTER__AGGREGATE_ADAPTERS=false: /mcp as before adapters (its aggregation: test_router_aggregation)."""
    await _dev_server(router, issues_adapter, tool_server)
    async with connect("alice") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        assert (await client.call_tool("issues__get_issue", {"number": 1})).is_error
        capabilities = client.session.server_capabilities
    assert capabilities is not None and capabilities.prompts is None and capabilities.resources is None


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _initialize(version: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }


async def test_a_session_belongs_to_the_server_it_was_opened_on(
    router: RouterUnderTest, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _dev_server(router, issues_adapter, tool_server)
    router.catalog.put_server("other", [{"tool": "echo"}])
    await router.synced()
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    async with router.http() as http:
        headers = {**MCP_HEADERS, **gateway_headers("alice", [], server="dev")}
        opened = await http.post(router.mcp_url, headers=headers, json=_initialize("2025-11-25"))
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-11-25"}
        answers = {}
        for name, server in (("same", "dev"), ("other", "other"), ("plain", None)):
            headers = {**MCP_HEADERS, **session, **gateway_headers("alice", [], server=server)}
            answers[name] = await http.post(router.mcp_url, headers=headers, json=listing)
    assert answers["same"].status_code == 200
    assert answers["other"].status_code == 404
    assert answers["plain"].status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        [("x-mcp-virtual-server", "dev"), ("x-mcp-virtual-server", "other")],
        [("x-mcp-virtual-server", "dev,other")],
    ],
)
async def test_an_ambiguous_virtual_server_header_is_refused(
    router: RouterUnderTest, headers: list[tuple[str, str]]
) -> None:
    base = [*MCP_HEADERS.items(), *gateway_headers("alice", ["mcp.admin"]).items()]
    async with httpx2.AsyncClient(transport=_transport(router)) as http:
        response = await http.post(router.mcp_url, headers=[*base, *headers], json=_initialize("2025-11-25"))
    assert response.status_code == 400
    assert "x-mcp-virtual-server" in response.json()["error"]["message"]


async def test_the_virtual_server_header_needs_the_secret(router: RouterUnderTest) -> None:
    headers = {**MCP_HEADERS, **gateway_headers("alice", ["mcp.admin"], secret=None, server="dev")}
    async with router.http() as http:
        response = await http.post(router.mcp_url, headers=headers, json=_initialize("2025-11-25"))
    assert response.status_code == 401


def _transport(router: RouterUnderTest) -> Any:
    from tests.support.asgi import StreamingASGITransport2

    return StreamingASGITransport2(router.app)


# --- prompts and resources of adapter members -------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["issues_adapter", "legacy_issues_adapter"])
@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_and_resources_of_adapter_members(
    router: RouterUnderTest,
    connect: Connect,
    example_adapter: Adapter,
    tool_server: ToolServer,
    request: pytest.FixtureRequest,
    mode: str,
    upstream: str,
) -> None:
    adapter: Adapter = request.getfixturevalue(upstream)
    await _dev_server(router, adapter, tool_server, issues={"include": ["get_issue"]})
    router.catalog.put_adapter("mcp-example", [example_adapter.url])  # no prompts, no resources
    router.catalog.put_server("dev", [{"adapter": "issues"}, {"adapter": "mcp-example"}, {"tool": "echo"}])
    await router.synced()
    async with connect("alice", mode=mode, server="dev") as client:
        capabilities = client.session.server_capabilities
        prompts = (await client.list_prompts()).prompts
        prompt = await client.get_prompt("issues__triage", {"number": "12"})
        resources = (await client.list_resources()).resources
        read = await client.read_resource("issues://readme")
        with pytest.raises(MCPError) as no_prompt:
            await client.get_prompt("triage", {"number": "1"})
        with pytest.raises(MCPError) as no_resource:
            await client.read_resource("issues://nothing")
    assert capabilities is not None and capabilities.prompts is not None and capabilities.resources is not None
    assert [(p.name, p.description) for p in prompts] == [("issues__triage", "Triage an issue")]
    assert prompt.messages[0].content.text == "Please triage issue 12."  # type: ignore[union-attr]
    assert [(str(r.uri), r.name) for r in resources] == [("issues://readme", "readme")]
    assert read.contents[0].text == "File issues with care."  # type: ignore[union-attr]
    # The adapter's own serverInfo stamp (2026-07-28 results) is not passed on; the router stamps its own.
    for result in (prompt, read):
        stamp = (result.meta or {}).get("io.modelcontextprotocol/serverInfo")
        assert stamp is None or stamp["name"] == "mcp-gateway-virtual-server"
    assert (no_prompt.value.code, no_resource.value.code) == (-32602, -32602)
    assert no_prompt.value.error.message == "Prompt 'triage' not found, or you do not have permission to use it."


async def test_prompts_and_resources_of_a_member_the_caller_may_not_read_are_hidden(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _dev_server(router, issues_adapter, tool_server, required_roles=["mcp.user"])
    router.catalog.put_adapter("issues", [issues_adapter.url], required_roles=["ops"])
    await router.synced()
    async with connect("dave", ["mcp.user"], server="dev") as client:
        assert (await client.list_prompts()).prompts == []
        assert (await client.list_resources()).resources == []
        with pytest.raises(MCPError) as hidden:
            await client.read_resource("issues://readme")
    assert hidden.value.code == -32602


async def test_include_and_exclude_filter_prompts_and_resources_by_name_too(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _dev_server(router, issues_adapter, tool_server, issues={"include": ["get_*", "triage"]})
    router.catalog.put_server("other", [{"adapter": "issues", "exclude": ["triage"]}])
    await router.synced()
    async with connect("alice", server="dev") as client:
        assert [p.name for p in (await client.list_prompts()).prompts] == ["issues__triage"]
        assert (await client.list_resources()).resources == []
        with pytest.raises(MCPError):
            await client.read_resource("issues://readme")
    async with connect("alice", server="other") as client:
        assert (await client.list_prompts()).prompts == []
        assert [r.name for r in (await client.list_resources()).resources] == ["readme"]
        with pytest.raises(MCPError):
            await client.get_prompt("issues__triage", {"number": "1"})


async def test_a_changed_server_is_announced_to_its_open_sessions(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    from mcp.client.session import IncomingMessage
    from mcp_types import ToolListChangedNotification

    from tests.support.waiting import async_wait_for

    await _dev_server(router, issues_adapter, tool_server)
    changed: list[IncomingMessage] = []
    stream_open: list[bool] = []

    def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.append(message)

    def on_response(response: httpx2.Response) -> None:
        if response.request.method == "GET" and response.status_code == 200:
            stream_open.append(True)

    async with connect("alice", server="dev", on_message=on_message, on_response=on_response) as client:
        assert len((await client.list_tools()).tools) == len(ISSUES_TOOLS) + 1
        await async_wait_for(lambda: bool(stream_open), timeout=5, interval=0.02, what="the GET stream")
        router.catalog.put_server("dev", [{"tool": "echo"}])
        await async_wait_for(lambda: bool(changed), timeout=5, interval=0.02, what="list_changed")
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
    await async_wait_for(
        lambda: len(router.app.state.virtual_sessions) == 0, timeout=5, interval=0.02, what="the session forgotten"
    )
