"""What a caller sees of a virtual server (toolrouter.virtual), the adapters' list cache (toolrouter.upstream),
and the virtual-server header (toolrouter.identity); no sockets."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from starlette.types import Receive, Scope, Send

from gateway.auth.principal import Principal
from toolrouter.catalog import parse_catalog
from toolrouter.executor import ToolExecutor
from toolrouter.identity import IdentityMiddleware, principal_of, virtual_server_of
from toolrouter.upstream import AdapterClient, UpstreamError, identity_headers
from toolrouter.virtual import ToolViews, readable_server, template_pattern, tool_view

ALICE = Principal("alice", "alice", frozenset({"mcp.user"}))
BOB = Principal("bob", "bob", frozenset({"mcp.user"}))
OPS = Principal("olga", "olga", frozenset({"mcp.user", "ops"}))


def _tool(name: str, description: str = "", read_only: bool = False) -> types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=True) if read_only else None
    return types.Tool(name=name, description=description, input_schema={"type": "object"}, annotations=annotations)


class FakeUpstream(AdapterClient):
    """Answers ``tools/list`` from a table per adapter (None: the adapter is down) and counts fetches."""

    def __init__(self, tools: dict[str, list[types.Tool] | None], **options: Any) -> None:
        super().__init__(
            ToolExecutor(default_timeout_seconds=1, max_response_bytes=1024),
            call_timeout_seconds=1,
            list_timeout_seconds=1,
            list_cache_seconds=options.pop("ttl", 30),
            max_response_bytes=1024,
            **options,
        )
        self.tools = tools
        self.fetches: list[tuple[str, str, str]] = []
        self.gate: anyio.Event | None = None

    async def _fetch(self, kind: str, adapter: Any, principal: Principal, fetch: Any) -> tuple[Any, ...]:
        self.fetches.append((kind, adapter.name, principal.user_id))
        if self.gate is not None:
            await self.gate.wait()
        found = self.tools[adapter.name]
        if found is None:
            raise UpstreamError("connection refused or host not found")
        return tuple(found)


def _catalog(members: list[dict[str, Any]], **server: Any) -> Any:
    registered = {
        "name": "echo",
        "tool": {"name": "echo", "description": "Echo", "inputSchema": {"type": "object"}},
        "createdBy": "alice",
        "requiredRoles": ["mcp.user"],
        "urls": ["http://127.0.0.1:9/echo"],
    }
    adapters = [
        {"name": "issues", "createdBy": "alice", "requiredRoles": ["mcp.user"], "urls": ["http://10.0.0.1/mcp"]},
        {"name": "ops", "createdBy": "carol", "requiredRoles": ["ops"], "urls": ["http://10.0.0.2/mcp"]},
        {"name": "down", "createdBy": "alice", "requiredRoles": ["mcp.user"], "urls": ["http://10.0.0.3/mcp"]},
    ]
    body = {
        "version": "1",
        "tools": [registered],
        "adapters": adapters,
        "servers": [{"name": "dev", "createdBy": "alice", "requiredRoles": ["mcp.user"], "members": members, **server}],
    }
    return parse_catalog(body)


ISSUES = [_tool("get_issue", "Get", read_only=True), _tool("delete_issue", "Delete"), _tool("echo", "Issue echo")]
OPS_TOOLS = [_tool("restart", "Restart")]


async def test_the_view_applies_filters_aliases_access_and_first_member_wins() -> None:
    members = [
        {"adapter": "down"},
        {"adapter": "issues", "overrides": {"echo": {"alias": "echo", "description": "From issues"}}},
        {"adapter": "ops", "overrides": {"restart": {"alias": "restart_it"}}},
        {"tool": "echo"},  # issues already exposes "echo" (its alias): dropped
        {"adapter": "issues", "readOnly": True, "overrides": {"get_issue": {"alias": "get"}}},
    ]
    catalog = _catalog(members)
    upstream = FakeUpstream({"issues": ISSUES, "ops": OPS_TOOLS, "down": None})
    server = catalog.servers["dev"]
    view = await tool_view(catalog, server, ALICE, upstream)
    assert list(view) == ["issues__get_issue", "issues__delete_issue", "echo", "get"]
    assert view["echo"].tool.description == "From issues" and view["echo"].adapter is not None
    assert view["echo"].original.name == "echo" and view["echo"].original.description == "Issue echo"
    assert view["get"].original.name == "get_issue"
    with_ops = await tool_view(catalog, server, OPS, upstream)
    assert "restart_it" in with_ops and with_ops["restart_it"].original.name == "restart"
    # The same adapter twice, and for alice then olga: one fetch per adapter and caller (no fetch for "ops"
    # by alice, who may not read it).
    assert sorted(upstream.fetches) == sorted(
        [("tools", "down", "alice"), ("tools", "issues", "alice"), ("tools", "issues", "olga"),
         ("tools", "ops", "olga"), ("tools", "down", "olga")]
    )  # fmt: skip


async def test_a_members_prefix_names_its_tools_and_the_first_member_keeps_a_shared_name() -> None:
    members = [
        {"adapter": "issues", "prefix": ""},
        {"adapter": "ops", "prefix": "o"},
        {"tool": "echo"},  # the issues adapter lists "echo" unprefixed first: dropped
    ]
    catalog = _catalog(members)
    upstream = FakeUpstream({"issues": ISSUES, "ops": OPS_TOOLS, "down": None})
    view = await tool_view(catalog, catalog.servers["dev"], OPS, upstream)
    assert list(view) == ["get_issue", "delete_issue", "echo", "o__restart"]
    assert view["echo"].adapter is not None and view["o__restart"].original.name == "restart"


@pytest.mark.parametrize(
    ("template", "matches", "misses"),
    [
        ("test://template/{id}/data", ["test://template/42/data"], ["test://template/4/2/data", "test://template/"]),
        ("file:///{+path}", ["file:///a/b/c.txt"], ["http:///a"]),
        ("weather://{city}{?units}", ["weather://paris", "weather://paris?units=c"], ["weather://paris/x"]),
        ("a.b://{x}", ["a.b://1"], ["aXb://1"]),  # the literal parts are literal (no regex dot)
    ],
)
def test_a_uri_template_matches_the_uris_it_produces(template: str, matches: list[str], misses: list[str]) -> None:
    pattern = template_pattern(types.ResourceTemplate(name="t", uri_template=template))
    assert all(pattern.fullmatch(uri) for uri in matches)
    assert not any(pattern.fullmatch(uri) for uri in misses)


_SEGMENT = st.text(alphabet=st.characters(blacklist_characters="/?#", blacklist_categories=("Cs",)), max_size=20)


@given(first=_SEGMENT, second=_SEGMENT, rest=st.text(max_size=40))
def test_a_template_matches_every_expansion_of_it(first: str, second: str, rest: str) -> None:
    template = types.ResourceTemplate(name="t", uri_template="repo://{owner}/{name}/files/{+path}")
    assert template_pattern(template).fullmatch(f"repo://{first}/{second}/files/{rest}")


def test_a_template_with_many_open_expressions_answers_a_long_miss_at_once() -> None:
    # 30 reserved expansions and a 10 kB URI that cannot match: a backtracking matcher would not return.
    template = types.ResourceTemplate(name="t", uri_template="x://" + "{+a}-" * 30 + "end")
    assert template_pattern(template).fullmatch("x://" + "-" * 10_000) is None


async def test_a_registered_tool_member_needs_read_access_to_the_tool() -> None:
    catalog = _catalog([{"tool": "echo", "overrides": {"echo": {"alias": "say"}}}, {"tool": "missing"}])
    upstream = FakeUpstream({})
    assert list(await tool_view(catalog, catalog.servers["dev"], ALICE, upstream)) == ["say"]
    stranger = Principal("zed", "zed", frozenset({"mcp.user"}))
    # readable server, but the tool record wants mcp.user too: zed has it; someone without it sees no server.
    assert list(await tool_view(catalog, catalog.servers["dev"], stranger, upstream)) == ["say"]
    assert readable_server(catalog, "dev", Principal("nobody")) is None
    assert readable_server(catalog, "nope", ALICE) is None
    assert readable_server(catalog, "dev", None) is None


async def test_lists_are_cached_per_caller_until_the_ttl_or_a_new_catalog() -> None:
    now = [0.0]
    upstream = FakeUpstream({"issues": ISSUES}, ttl=30, clock=lambda: now[0])
    adapter = _catalog([]).adapters["issues"]
    assert await upstream.list_tools(adapter, ALICE, "v1") == tuple(ISSUES)
    await upstream.list_tools(adapter, ALICE, "v1")
    await upstream.list_tools(adapter, BOB, "v1")
    assert len(upstream.fetches) == 2  # alice once, bob once
    now[0] = 31
    await upstream.list_tools(adapter, ALICE, "v1")
    assert len(upstream.fetches) == 3
    await upstream.list_tools(adapter, ALICE, "v2")
    assert len(upstream.fetches) == 4


async def test_a_failure_is_remembered_briefly_and_reported_once() -> None:
    now = [0.0]
    upstream = FakeUpstream({"down": None}, ttl=30, clock=lambda: now[0])
    adapter = _catalog([]).adapters["down"]
    with pytest.raises(UpstreamError) as first:
        await upstream.list_tools(adapter, ALICE, "v1")
    with pytest.raises(UpstreamError) as second:
        await upstream.list_tools(adapter, ALICE, "v1")
    assert (first.value.fresh, second.value.fresh) == (True, False)
    assert len(upstream.fetches) == 1
    now[0] = 6  # failures are kept for 5 s only
    upstream.tools["down"] = ISSUES
    assert await upstream.list_tools(adapter, ALICE, "v1") == tuple(ISSUES)


async def test_concurrent_askers_share_one_fetch() -> None:
    upstream = FakeUpstream({"issues": ISSUES})
    upstream.gate = anyio.Event()
    adapter = _catalog([]).adapters["issues"]
    results: list[tuple[types.Tool, ...]] = []

    async def ask() -> None:
        results.append(await upstream.list_tools(adapter, ALICE, "v1"))

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        upstream.gate.set()
    assert results == [tuple(ISSUES)] * 5
    assert len(upstream.fetches) == 1


def test_identity_headers_are_what_the_gateway_sends_an_adapter() -> None:
    assert identity_headers(Principal("carol", roles=frozenset({"reporter", "mcp.user"}))) == {
        "x-mcp-userid": "carol",
        "x-mcp-roles": "mcp.user,reporter",
    }
    assert identity_headers(Principal("dave")) == {"x-mcp-userid": "dave"}


# --- the header -------------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(app: Any, headers: list[tuple[str, str]]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as http:
        return await http.post("/mcp", headers=headers)


async def test_the_virtual_server_header_is_trusted_with_the_secret_and_then_hidden() -> None:
    inner = Recorder()
    headers = [("X-Gateway-Secret", "s"), ("X-Mcp-UserId", "alice"), ("X-Mcp-Virtual-Server", "dev")]
    response = await _request(IdentityMiddleware(inner, secret="s"), headers)
    assert response.status_code == 200 and inner.scope is not None
    assert virtual_server_of(inner.scope) == "dev"
    assert principal_of(inner.scope) is not None
    assert b"x-mcp-virtual-server" not in {name for name, _ in inner.scope["headers"]}
    # The session owner carries the server: a session opened on one server is another owner's on the next.
    user = inner.scope["user"]
    assert isinstance(user, AuthenticatedUser)
    assert authorization_context(user)["issuer"] == "virtual-server:dev"


async def test_without_the_header_the_request_is_for_plain_mcp() -> None:
    inner = Recorder()
    await _request(IdentityMiddleware(inner, secret="s"), [("X-Gateway-Secret", "s"), ("X-Mcp-UserId", "alice")])
    assert inner.scope is not None and virtual_server_of(inner.scope) is None
    assert authorization_context(inner.scope["user"])["issuer"] is None


async def test_a_blank_header_is_a_request_for_no_server_not_for_plain_mcp() -> None:
    inner = Recorder()
    headers = [("X-Gateway-Secret", "s"), ("X-Mcp-UserId", "alice"), ("X-Mcp-Virtual-Server", " ")]
    await _request(IdentityMiddleware(inner, secret="s"), headers)
    assert inner.scope is not None and virtual_server_of(inner.scope) == ""


@pytest.mark.parametrize(
    "extra",
    [[("X-Mcp-Virtual-Server", "a"), ("X-Mcp-Virtual-Server", "b")], [("X-Mcp-Virtual-Server", "a,b")]],
)
async def test_an_ambiguous_header_is_refused(extra: list[tuple[str, str]]) -> None:
    inner = Recorder()
    response = await _request(IdentityMiddleware(inner, secret="s"), [("X-Gateway-Secret", "s"), *extra])
    assert response.status_code == 400 and inner.scope is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_kept_view_is_reused_until_a_members_list_changes_or_expires() -> None:
    clock = Clock()
    catalog = _catalog([{"adapter": "issues"}, {"tool": "echo"}])
    server = catalog.servers["dev"]
    upstream = FakeUpstream({"issues": ISSUES, "ops": OPS_TOOLS, "down": None}, clock=clock)
    views = ToolViews(upstream, clock=clock)
    first = await views.view(catalog, server, ALICE)
    # The build's own fetch moved the adapter's generation: built once more, from the list cache (no fetch).
    second = await views.view(catalog, server, ALICE)
    assert second is not first and upstream.fetches == [("tools", "issues", "alice")]
    assert await views.view(catalog, server, ALICE) is second
    assert views.cached(catalog, server, ALICE) is second and views.cached(catalog, server, BOB) is None
    assert await views.tools(catalog, server, ALICE) is await views.tools(catalog, server, ALICE)
    # Another caller has a view of their own.
    assert await views.view(catalog, server, BOB) is not second
    # The adapter says its tools changed: its list is fetched again and the view rebuilt.
    upstream.tools["issues"] = [*ISSUES, _tool("new_tool")]
    upstream.list_changed("issues", "tools")
    assert "issues__new_tool" in await views.view(catalog, server, ALICE)
    # Past the list cache's lifetime the view goes too (and the list is fetched again).
    fetched = len(upstream.fetches)
    clock.now += 31
    await views.view(catalog, server, ALICE)
    assert len(upstream.fetches) == fetched + 1


async def test_a_view_missing_a_member_is_kept_only_as_long_as_the_failure_is_remembered() -> None:
    clock = Clock()
    catalog = _catalog([{"adapter": "down"}, {"adapter": "issues"}])
    server = catalog.servers["dev"]
    upstream = FakeUpstream({"issues": ISSUES, "ops": OPS_TOOLS, "down": None}, clock=clock)
    views = ToolViews(upstream, clock=clock)
    await views.view(catalog, server, ALICE)
    kept = await views.view(catalog, server, ALICE)
    assert await views.view(catalog, server, ALICE) is kept
    upstream.tools["down"] = [_tool("back")]
    clock.now += 6  # past FAILED_LIST_CACHE_SECONDS, well within the 30 s list lifetime
    assert "down__back" in await views.view(catalog, server, ALICE)
