"""Catalog parsing and polling against an in-process HTTP transport (httpx.MockTransport)."""

from __future__ import annotations

from typing import Any

import httpx

from toolrouter.catalog import Catalog, CatalogPoller, parse_catalog


def item(name: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "tool": {"name": name, "description": f"{name} tool", "inputSchema": {"type": "object"}},
        "createdBy": "alice",
        "requiredRoles": ["mcp.engineer"],
        "urls": [f"http://127.0.0.1:9/{name}"],
        "timeoutSeconds": None,
    }
    base.update(overrides)
    return base


def test_a_catalog_body_becomes_entries_by_tool_name() -> None:
    catalog = parse_catalog({"version": "v1", "tools": [item("weather", timeoutSeconds=2.5)]})
    entry = catalog.get("weather")
    assert entry is not None
    assert catalog.version == "v1"
    assert (entry.created_by, entry.required_roles, entry.timeout_seconds) == ("alice", ("mcp.engineer",), 2.5)
    assert entry.urls == ("http://127.0.0.1:9/weather",)
    assert entry.tool.description == "weather tool"


def test_malformed_items_are_skipped_without_hiding_the_others() -> None:
    body = {
        "tools": [
            "not an object",
            item("bad-schema", tool={"name": "bad-schema", "inputSchema": {"type": "string"}}),
            item("mismatch", tool={"name": "other", "inputSchema": {"type": "object"}}),
            item("good", urls=["ftp://nope", "http://127.0.0.1:9/good"], timeoutSeconds=-1),
            item("good"),
        ]
    }
    catalog = parse_catalog(body)
    assert list(catalog.entries) == ["good"]
    good = catalog.get("good")
    assert good is not None and good.urls == ("http://127.0.0.1:9/good",) and good.timeout_seconds is None


def test_the_fingerprint_ignores_replicas_but_not_definitions_or_access() -> None:
    base = parse_catalog({"tools": [item("t")]}).fingerprint
    assert parse_catalog({"tools": [item("t", urls=["http://10.0.0.9:8000/t"])]}).fingerprint == base
    assert parse_catalog({"tools": [item("t", requiredRoles=["other"])]}).fingerprint != base
    assert parse_catalog({"tools": [item("t", createdBy="bob")]}).fingerprint != base
    changed_tool = item("t", tool={"name": "t", "description": "new words", "inputSchema": {"type": "object"}})
    assert parse_catalog({"tools": [changed_tool]}).fingerprint != base


class FakeGateway:
    """Answers catalog polls from a script of (status, body) pairs and records each request."""

    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.replies.pop(0)
        if status == 200:
            return httpx.Response(200, json=body, headers={"ETag": f'"{body.get("version", "x")}"'})
        return httpx.Response(status)


async def test_the_poller_sends_the_secret_and_etag_and_reports_only_real_changes() -> None:
    gateway = FakeGateway(
        (200, {"version": "1", "tools": [item("a")]}),
        (304, None),
        (200, {"version": "2", "tools": [item("a", urls=[])]}),  # replicas only
        (200, {"version": "3", "tools": [item("a"), item("b")]}),
    )
    seen: list[Catalog] = []

    async def on_change(catalog: Catalog) -> None:
        seen.append(catalog)

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway.handle)) as http:
        poller = CatalogPoller(
            http, "http://gw/internal/tool-catalog", secret="s", interval_seconds=1, on_change=on_change
        )
        results = [await poller.refresh() for _ in range(4)]
    assert results == [True, False, False, True]
    assert [c.version for c in seen] == ["1", "3"]
    assert all(r.headers["X-Gateway-Secret"] == "s" for r in gateway.requests)
    assert "If-None-Match" not in gateway.requests[0].headers
    assert gateway.requests[1].headers["If-None-Match"] == '"1"'
    assert poller.current.get("a") is not None and poller.current.get("a").urls  # type: ignore[union-attr]


async def test_a_failed_poll_keeps_the_last_good_catalog() -> None:
    gateway = FakeGateway((200, {"version": "1", "tools": [item("a")]}), (500, None), (200, {"nope": 1}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway.handle)) as http:
        poller = CatalogPoller(http, "http://gw/c", secret=None, interval_seconds=1)
        await poller.refresh()
        assert not await poller.refresh()
        assert not await poller.refresh()
    assert list(poller.current.entries) == ["a"]
    assert "X-Gateway-Secret" not in gateway.requests[0].headers
