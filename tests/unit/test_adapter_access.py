"""The data plane reads an adapter record through ``AdapterAccess``: who may use it and the ``url`` it calls
itself, with the same tolerance for a damaged record as a read of the raw keys."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from gateway.records import AdapterAccess

STRANGER = Principal("mallory", roles=frozenset({"o", "mcp.user"}))
CREATOR = Principal("alice")
ADMIN = Principal("root", roles=frozenset({"mcp.admin"}))


def test_a_well_formed_record() -> None:
    access = AdapterAccess.of({"createdBy": "alice", "requiredRoles": ["mcp.user"], "url": "http://h/mcp"})
    assert (access.created_by, list(access.required_roles), access.direct_url) == (
        "alice",
        ["mcp.user"],
        "http://h/mcp",
    )


@pytest.mark.parametrize(
    ("data", "direct_url"),
    [
        ({}, None),
        ({"command": "npx"}, None),
        ({"url": "http://h/sse", "transport": "sse"}, None),
        ({"url": "http://h/mcp", "transport": "streamable-http"}, "http://h/mcp"),
        ({"url": ""}, None),
    ],
)
def test_only_a_url_source_not_of_transport_sse_is_called_directly(
    data: dict[str, Any], direct_url: str | None
) -> None:
    assert AdapterAccess.of(data).direct_url == direct_url


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"createdBy": None, "requiredRoles": None},
        {"createdBy": "", "requiredRoles": []},
        {"createdBy": 0, "requiredRoles": 0},
        {"createdBy": "ALICE", "requiredRoles": "ops"},
        {"createdBy": "alice", "requiredRoles": {"mcp.user": 1}},
        {"createdBy": ["alice"], "requiredRoles": ["", " ", "MCP.USER"]},
        {"createdBy": "bob", "requiredRoles": ["ops\ud800"]},
    ],
)
@pytest.mark.parametrize("principal", [STRANGER, CREATOR, ADMIN], ids=["stranger", "creator", "admin"])
def test_a_damaged_record_reads_as_the_raw_keys_did(data: dict[str, Any], principal: Principal) -> None:
    before = can_read(principal, data.get("createdBy"), data.get("requiredRoles") or [])
    access = AdapterAccess.of(data)
    assert can_read(principal, access.created_by, access.required_roles) is before


@pytest.mark.parametrize("roles", [5, [5], ["ok", {"a": 1}]])
def test_roles_that_are_not_text_fail_only_where_they_always_did(roles: Any) -> None:
    data = {"createdBy": "alice", "requiredRoles": roles}
    access = AdapterAccess.of(data)  # reading the record never fails
    assert can_read(ADMIN, access.created_by, access.required_roles)
    assert can_read(CREATOR, access.created_by, access.required_roles)
    with pytest.raises((TypeError, AttributeError)):
        can_read(STRANGER, data.get("createdBy"), data.get("requiredRoles") or [])
    with pytest.raises((TypeError, AttributeError)):
        can_read(STRANGER, access.created_by, access.required_roles)
