"""Adversarial review of the virtual-server relay work (issue #19, b2559a4..3130aae): the parts that need no
sockets (RE2 template patterns, the list-changed announcements, kept tool views). The tests that fail today
are findings; the others pin what was checked and found sound."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from gateway.auth.principal import Principal
from toolrouter.catalog import parse_catalog
from toolrouter.executor import ToolExecutor
from toolrouter.relay import Relay
from toolrouter.upstream import LIST_CHANGED_SETTLE_SECONDS, AdapterClient, UpstreamError
from toolrouter.virtual import ToolViews, template_pattern, template_view

ALICE = Principal("alice", "alice", frozenset({"mcp.user"}))
BOB = Principal("bob", "bob", frozenset({"mcp.user"}))
ALICE_NO_ROLE = Principal("alice", "alice", frozenset())


def _catalog(members: list[dict[str, Any]], version: str = "1") -> Any:
    adapters = [
        {"name": "good", "createdBy": "alice", "requiredRoles": ["mcp.user"], "urls": ["http://10.0.0.1/mcp"]},
        {"name": "evil", "createdBy": "mallory", "requiredRoles": ["mcp.user"], "urls": ["http://10.0.0.2/mcp"]},
    ]
    body = {
        "version": version,
        "tools": [],
        "adapters": adapters,
        "servers": [{"name": "dev", "createdBy": "alice", "requiredRoles": ["mcp.user"], "members": members}],
    }
    return parse_catalog(body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lists(AdapterClient):
    """Answers every list from a table per adapter and kind (no sockets) and counts fetches."""

    def __init__(self, table: dict[tuple[str, str], list[Any]], **options: Any) -> None:
        super().__init__(
            ToolExecutor(default_timeout_seconds=1, max_response_bytes=1024),
            call_timeout_seconds=1,
            list_timeout_seconds=1,
            list_cache_seconds=30,
            max_response_bytes=1024,
            **options,
        )
        self.table = table
        self.fetches: list[tuple[str, str, str]] = []

    async def _fetch(self, kind: str, adapter: Any, principal: Principal, fetch: Any) -> tuple[Any, ...]:
        self.fetches.append((kind, adapter.name, principal.user_id))
        found = self.table.get((adapter.name, kind))
        if found is None:
            raise UpstreamError("connection refused or host not found")
        return tuple(found)


def _tool(name: str) -> types.Tool:
    return types.Tool(name=name, input_schema={"type": "object"})


# --- RE2 template patterns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "uri", "matches"),
    [
        ("res://(?i)A/{x}", "res://a/1", False),  # no inline flags from the literal
        ("res://a.b/{x}", "res://aXb/1", False),  # '.' is literal
        ("res://\\Q{x}", "res://\\Qz", True),  # a backslash stays a backslash (no \Q...\E quoting)
        ("res://x\\E.*{x}", "res://x\\E.*z", True),
        ("res://[a-z]+/{x}", "res://abc/1", False),
        ("res://a|b/{x}", "res://b/1", False),  # no alternation out of the literal
        ("res://a{x}", "res://a/../etc", False),  # {x} is one segment
    ],
)
def test_a_templates_literal_text_never_becomes_regular_expression_syntax(
    template: str, uri: str, matches: bool
) -> None:
    pattern = template_pattern(types.ResourceTemplate(uri_template=template, name="t"))
    assert bool(pattern.fullmatch(uri)) is matches


async def test_one_members_oversized_template_does_not_hide_the_other_members_templates() -> None:
    """``template_pattern`` calls ``re2.compile`` on an adapter's template; RE2 refuses a pattern past its
    memory budget (a ~200 kB template is enough) with ``re2.Error``, which nothing catches: the whole
    ``template_view`` raises, so one member's template breaks ``resources/templates/list``, ``resources/read``
    by template, ``subscribe`` and template completion for every member of every server that includes it."""
    good = types.ResourceTemplate(uri_template="good://items/{id}", name="item")
    evil = types.ResourceTemplate(uri_template="evil://" + "{x}a" * 50_000, name="bomb")
    upstream = Lists({("good", "templates"): [good], ("evil", "templates"): [evil]})
    catalog = _catalog([{"adapter": "good"}, {"adapter": "evil"}])
    view = await template_view(catalog, catalog.servers["dev"], ALICE, upstream)
    assert "good://items/{id}" in view


# --- list_changed from an adapter -------------------------------------------------------------------------------


async def test_a_list_changed_storm_announces_one_change_at_a_time() -> None:
    """``_announce_change`` clears ``_changes_pending`` before it awaits the announcement, which sends to
    every session one by one (up to 2 s each). An adapter sending ``list_changed`` in a loop then starts a new
    announcement every 0.2 s while earlier ones are still sending: tasks and duplicate notifications grow
    with the number of slow sessions."""
    running = 0
    most = 0
    announced = 0

    async def slow_announcement(adapter: str, kind: str) -> None:
        nonlocal running, most, announced
        running += 1
        most = max(most, running)
        announced += 1
        try:
            await anyio.sleep(1.0)  # a few downstream sessions that do not read (SEND_TIMEOUT_SECONDS each)
        finally:
            running -= 1

    upstream = Lists({}, on_list_changed=slow_announcement)
    relay = Relay("evil", None, upstream.list_changed)
    async with upstream.running():
        with anyio.move_on_after(1.5):
            while True:
                await relay.message(types.ToolListChangedNotification())
                await anyio.sleep(0.01)
    assert most == 1, f"{most} announcements of one adapter's tools ran at once ({announced} in 1.5 s)"


async def test_list_changed_from_an_adapter_drops_only_that_adapters_lists() -> None:
    upstream = Lists({("good", "tools"): [_tool("a")], ("evil", "tools"): [_tool("b")]})
    catalog = _catalog([{"adapter": "good"}, {"adapter": "evil"}])
    for adapter in catalog.adapters.values():
        await upstream.list_tools(adapter, ALICE, catalog.version)
    before = upstream.generation(["good"], ALICE)
    upstream.list_changed("evil", "tools")
    assert upstream.generation(["good"], ALICE) == before
    for adapter in catalog.adapters.values():
        await upstream.list_tools(adapter, ALICE, catalog.version)
    assert upstream.fetches.count(("tools", "good", "alice")) == 1
    assert upstream.fetches.count(("tools", "evil", "alice")) == 2
    assert LIST_CHANGED_SETTLE_SECONDS > 0


# --- kept tool views -----------------------------------------------------------------------------------------


async def test_a_kept_view_is_never_served_to_another_caller_or_after_a_role_change() -> None:
    upstream = Lists({("good", "tools"): [_tool("a")]})
    views = ToolViews(upstream)
    catalog = _catalog([{"adapter": "good"}])
    server = catalog.servers["dev"]
    await views.view(catalog, server, ALICE)
    alices = await views.view(catalog, server, ALICE)
    assert views.cached(catalog, server, BOB) is None
    assert views.cached(catalog, server, ALICE_NO_ROLE) is None
    # A catalog in which the adapter's roles changed has another version (the gateway hashes the content).
    changed = _catalog([{"adapter": "good"}], version="2")
    assert views.cached(changed, changed.servers["dev"], ALICE) is None
    assert views.cached(catalog, server, ALICE) is alices


async def test_another_callers_first_listing_does_not_throw_away_my_kept_view() -> None:
    """The generation is per adapter, not per (adapter, caller): every list fetch of an adapter by anyone
    makes every caller's kept view of every server with that adapter stale. With N users the view of each
    lives ~30/N s, the ``tools/call`` fast path mostly rebuilds, and ``input_schema`` (the Mcp-Param check)
    mostly answers None."""
    upstream = Lists({("good", "tools"): [_tool("a")]})
    views = ToolViews(upstream)
    catalog = _catalog([{"adapter": "good"}])
    server = catalog.servers["dev"]
    await views.view(catalog, server, ALICE)
    alices = await views.view(catalog, server, ALICE)
    await views.view(catalog, server, BOB)  # bob's own fetch of the same adapter's tools
    assert views.cached(catalog, server, ALICE) is alices


async def test_a_kept_view_does_not_outlive_the_lists_it_was_built_from() -> None:
    """``_KeptView.until`` is counted from when the view was built, not from when its lists were fetched: a
    view rebuilt from a 29 s old cached list keeps it for 30 s more (59 s in all), and nothing fetches the
    list meanwhile, so a tool the adapter stopped listing stays callable twice as long as documented."""
    clock = Clock()
    upstream = Lists({("good", "tools"): [_tool("old")]}, clock=clock)
    views = ToolViews(upstream, clock=clock)
    catalog = _catalog([{"adapter": "good"}])
    server = catalog.servers["dev"]
    await views.view(catalog, server, ALICE)  # t=0: fetched; the view is stale at once (its own fetch)
    clock.now += 29
    await views.view(catalog, server, ALICE)  # t=29: rebuilt from the cached list, fetched at t=0
    upstream.table[("good", "tools")] = [_tool("new")]
    clock.now += 16  # t=45: the list expired 15 s ago
    assert "good__old" not in await views.view(catalog, server, ALICE)
