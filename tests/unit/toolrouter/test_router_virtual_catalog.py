"""The virtual-server part of the catalog (issue #19): adapters, servers and their members, parsed tolerantly."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from toolrouter.catalog import AdapterEntry, Member, Override, VirtualServer, parse_catalog


def adapter(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "createdBy": "alice",
        "requiredRoles": ["mcp.user"],
        "urls": [f"http://10.0.0.5:8000/{name}/mcp"],
        "remote": False,
        **overrides,
    }


def server(name: str, members: list[Any], **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "createdBy": "alice",
        "requiredRoles": ["mcp.user"],
        "description": "Dev tools",
        "members": members,
        "toolSearch": "off",
        **overrides,
    }


GITHUB_MEMBER = {
    "adapter": "github",
    "include": ["get_*"],
    "exclude": None,
    "readOnly": False,
    "overrides": {"search_issues": {"alias": "find_issues", "description": "Find issues"}},
}


def test_the_documented_shape_is_parsed() -> None:
    body = {
        "version": "7",
        "tools": [],
        "adapters": [adapter("github", remote=True, urls=["https://api.example.com/mcp", "ftp://no"])],
        "servers": [server("dev-tools", [GITHUB_MEMBER, {"tool": "weather", "overrides": {}}], toolSearch="beside")],
    }
    catalog = parse_catalog(body)
    assert catalog.adapters == {
        "github": AdapterEntry("github", "alice", ("mcp.user",), ("https://api.example.com/mcp",), remote=True)
    }
    assert catalog.servers == {
        "dev-tools": VirtualServer(
            name="dev-tools",
            created_by="alice",
            required_roles=("mcp.user",),
            description="Dev tools",
            members=(
                Member(
                    adapter="github",
                    include=("get_*",),
                    overrides={"search_issues": Override(alias="find_issues", description="Find issues")},
                ),
                Member(tool="weather"),
            ),
            tool_search="beside",
        )
    }


def test_an_older_gateway_without_the_lists_means_none_and_the_same_fingerprint() -> None:
    old = parse_catalog({"version": "1", "tools": []})
    empty = parse_catalog({"version": "1", "tools": [], "adapters": [], "servers": []})
    assert (old.adapters, old.servers) == ({}, {})
    assert old.fingerprint == empty.fingerprint


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        {"createdBy": "alice"},
        adapter("Upper"),
        adapter("under_score"),
        adapter("trailing-"),
        adapter("line\n"),
        adapter("ok", createdBy=3),
        adapter("ok", requiredRoles="mcp.user"),
        adapter("ok", urls="http://x"),
    ],
)
def test_a_malformed_adapter_is_skipped_and_the_others_stay(bad: Any) -> None:
    catalog = parse_catalog({"tools": [], "adapters": [bad, adapter("good")], "servers": []})
    assert list(catalog.adapters) == ["good"]


@pytest.mark.parametrize(
    "bad",
    [
        42,
        server("", []),
        server("x", "not a list"),
        server("x", [], toolSearch="sometimes"),
        server("x", [], description=["no"]),
        server("x", [], requiredRoles=[1]),
    ],
)
def test_a_malformed_server_is_skipped_and_the_others_stay(bad: Any) -> None:
    catalog = parse_catalog({"tools": [], "servers": [bad, server("good", [])]})
    assert list(catalog.servers) == ["good"]


@pytest.mark.parametrize(
    "bad",
    [
        "github",
        {},
        {"adapter": "github", "tool": "weather"},
        {"adapter": "Git_Hub"},
        {"tool": ""},
        {"adapter": "github", "include": "get_*"},
        {"adapter": "github", "exclude": [1]},
        {"adapter": "github", "readOnly": "yes"},
        {"adapter": "github", "overrides": []},
        {"adapter": "github", "overrides": {"x": "y"}},
        {"adapter": "github", "overrides": {"x": {"alias": ""}}},
        {"adapter": "github", "overrides": {"x": {"description": 5}}},
        {"adapter": "github", "prefix": "Git_Hub"},
        {"adapter": "github", "prefix": 3},
    ],
)
def test_a_malformed_member_is_skipped_and_its_server_keeps_the_others(bad: Any) -> None:
    catalog = parse_catalog({"tools": [], "servers": [server("dev", [bad, {"tool": "weather"}])]})
    assert catalog.servers["dev"].members == (Member(tool="weather"),)


def test_duplicates_keep_the_first() -> None:
    body = {
        "tools": [],
        "adapters": [adapter("a"), adapter("a", createdBy="bob")],
        "servers": [server("s", []), server("s", [], createdBy="bob")],
    }
    catalog = parse_catalog(body)
    assert catalog.adapters["a"].created_by == "alice"
    assert catalog.servers["s"].created_by == "alice"


def test_the_fingerprint_follows_servers_and_access_but_not_adapter_urls() -> None:
    def fingerprint(adapters: list[Any], servers: list[Any]) -> str:
        return parse_catalog({"tools": [], "adapters": adapters, "servers": servers}).fingerprint

    base = fingerprint([adapter("a")], [server("s", [{"adapter": "a"}])])
    assert fingerprint([adapter("a", urls=["http://10.0.0.9:1/mcp"])], [server("s", [{"adapter": "a"}])]) == base
    assert fingerprint([adapter("a", requiredRoles=[])], [server("s", [{"adapter": "a"}])]) != base
    assert fingerprint([adapter("a")], [server("s", [{"adapter": "a", "readOnly": True}])]) != base
    assert fingerprint([adapter("a")], [server("s", [{"adapter": "a"}], toolSearch="only")]) != base
    assert fingerprint([adapter("a")], [server("s", [{"adapter": "a"}], description="new")]) != base


def _tool(name: str, read_only: bool | None = None) -> types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=read_only) if read_only is not None else None
    return types.Tool(name=name, input_schema={"type": "object"}, annotations=annotations)


@pytest.mark.parametrize(
    ("member", "kept"),
    [
        (Member(adapter="a"), {"get_issue", "get_user", "delete_issue", "list"}),
        (Member(adapter="a", include=("get_*",)), {"get_issue", "get_user"}),
        (Member(adapter="a", include=("GET_*",)), set()),  # case-sensitive, on every platform
        (Member(adapter="a", include=()), {"get_issue", "get_user", "delete_issue", "list"}),  # as the gateway sends it
        (Member(adapter="a", include=(), exclude=()), {"get_issue", "get_user", "delete_issue", "list"}),
        (Member(adapter="a", exclude=("*_issue",)), {"get_user", "list"}),
        (Member(adapter="a", include=("get_*", "list"), exclude=("get_user",)), {"get_issue", "list"}),
        (Member(adapter="a", read_only=True), {"get_issue", "get_user"}),
        (Member(adapter="a", read_only=True, include=("*issue",)), {"get_issue"}),
    ],
)
def test_a_member_keeps_what_include_exclude_and_read_only_let_through(member: Member, kept: set[str]) -> None:
    tools = [_tool("get_issue", True), _tool("get_user", True), _tool("delete_issue", False), _tool("list")]
    assert {t.name for t in tools if member.keeps(t)} == kept
