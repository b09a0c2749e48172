"""Virtual servers over the REST API (``/servers``): the lifecycle, the rules a body must follow, RBAC,
ETags, audit, names shared with adapters and tools, and that nothing ever runs for one.

In process (the ``app_client`` fixture: memory store, local runtime, dev identities). Members are ``url``
adapters and tools, which run no process either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.telemetry import audit
from tests.integration.control.test_authorization_matrix import (
    ADMIN,
    CALLERS,
    CAN_READ,
    CAN_WRITE,
    CREATOR,
    ROLE_HOLDER,
)
from tests.integration.control.test_authorization_matrix import body as resource_body

SERVER = {
    "name": "dev-tools",
    "description": "Tools for the dev team",
    "requiredRoles": ["mcp.engineer"],
    "members": [
        {
            "adapter": "github",
            "include": ["get_*", "search_*"],
            "exclude": ["delete_*"],
            "readOnly": False,
            "overrides": {"search_issues": {"alias": "find_issues", "description": "Find issues"}},
        },
        {"tool": "weather", "overrides": {"weather": {"description": "Weather now"}}},
    ],
    "toolSearch": "off",
}
STORED_MEMBERS = [
    {
        "adapter": "github",
        "include": ["get_*", "search_*"],
        "exclude": ["delete_*"],
        "readOnly": False,
        "overrides": {"search_issues": {"alias": "find_issues", "description": "Find issues"}},
    },
    {
        "tool": "weather",
        "include": [],
        "exclude": [],
        "readOnly": False,
        "overrides": {"weather": {"description": "Weather now"}},
    },
]
"""The members as the API answers and the store keeps them: every field, and no ``null`` for the source a
member does not have."""


def server(**changes: Any) -> dict[str, Any]:
    return {**SERVER, **changes}


async def add_members(client: httpx.AsyncClient, owner: dict[str, str] = CREATOR) -> None:
    """The members SERVER names: the adapter ``github`` and the tool ``weather`` (readable by mcp.engineer)."""
    for kind, name in (("adapters", "github"), ("tools", "weather")):
        response = await client.post(f"/{kind}", json=resource_body(kind, name), headers=owner)
        assert response.status_code == 201, response.text


@pytest.fixture
def audit_events() -> Iterator[list[audit.AuditEvent]]:
    seen: list[audit.AuditEvent] = []
    unsubscribe = audit.subscribe(seen.append)
    yield seen
    unsubscribe()


async def test_a_virtual_server_is_created_read_listed_replaced_and_deleted(
    app_client: httpx.AsyncClient, audit_events: list[audit.AuditEvent]
) -> None:
    await add_members(app_client)

    created = await app_client.post("/servers", json=SERVER, headers=CREATOR)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/servers/dev-tools"
    resource = created.json()
    assert {k: resource[k] for k in SERVER} == {**SERVER, "members": STORED_MEMBERS}
    assert resource["id"] == "dev-tools" and resource["createdBy"] == "alice"
    assert resource["createdAt"] == resource["lastUpdatedAt"]

    read = await app_client.get("/servers/dev-tools", headers=ROLE_HOLDER)
    assert read.status_code == 200 and read.json() == resource
    etag = read.headers["etag"]
    listed = await app_client.get("/servers", headers=ROLE_HOLDER)
    assert [s["name"] for s in listed.json()] == ["dev-tools"]

    changed = server(description="Changed", toolSearch="beside", members=SERVER["members"][:1])
    replaced = await app_client.put("/servers/dev-tools", json=changed, headers={**CREATOR, "If-Match": etag})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["description"] == "Changed" and replaced.json()["toolSearch"] == "beside"
    assert replaced.json()["members"] == STORED_MEMBERS[:1]
    assert replaced.json()["createdAt"] == resource["createdAt"]
    assert replaced.json()["lastUpdatedAt"] >= resource["lastUpdatedAt"]

    stale = await app_client.put(
        "/servers/dev-tools", json=server(description="Lost"), headers={**CREATOR, "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert (await app_client.delete("/servers/dev-tools", headers={**CREATOR, "If-Match": etag})).status_code == 412
    assert (await app_client.get("/servers/dev-tools", headers=CREATOR)).json()["description"] == "Changed"

    assert (await app_client.delete("/servers/dev-tools", headers=CREATOR)).status_code == 204
    missing = await app_client.get("/servers/dev-tools", headers=CREATOR)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    actions = [(e.action, e.resource, e.decision, e.status) for e in audit_events if e.action.startswith("server.")]
    assert actions == [
        ("server.create", "dev-tools", "allowed", 201),
        ("server.update", "dev-tools", "allowed", 200),
        ("server.update", "dev-tools", "failed", 412),
        ("server.delete", "dev-tools", "failed", 412),
        ("server.delete", "dev-tools", "allowed", 204),
    ]


async def test_a_minimal_server_takes_the_defaults(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post("/servers", json={"name": "empty"}, headers=CREATOR)
    assert response.status_code == 201, response.text
    resource = response.json()
    assert (resource["members"], resource["toolSearch"], resource["requiredRoles"], resource["description"]) == (
        [],
        "off",
        [],
        "",
    )


async def test_a_members_prefix_is_kept_as_given_and_left_out_when_not_given(app_client: httpx.AsyncClient) -> None:
    await add_members(app_client)
    data = with_members(member(prefix=""), {"tool": "weather"})
    response = await app_client.post("/servers", json=data, headers=CREATOR)
    assert response.status_code == 201, response.text
    stored = (await app_client.get(f"/servers/{data['name']}", headers=CREATOR)).json()["members"]
    assert stored[0]["prefix"] == "" and "prefix" not in stored[1]


async def test_nothing_runs_for_a_virtual_server(
    app_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = app_client._transport
    assert isinstance(transport, httpx.ASGITransport)
    ctx = transport.app.state.ctx  # type: ignore[attr-defined]
    asked: list[tuple[str, str]] = []
    for method in ("ensure", "delete", "restart", "status"):
        original = getattr(ctx.runtime, method)

        async def spy(arg: Any, *rest: Any, _method: str = method, _original: Any = original, **kw: Any) -> Any:
            asked.append((_method, getattr(arg, "name", arg)))
            return await _original(arg, *rest, **kw)

        monkeypatch.setattr(ctx.runtime, method, spy)
    await add_members(app_client)
    asked.clear()

    assert (await app_client.post("/servers", json=SERVER, headers=CREATOR)).status_code == 201
    updated = await app_client.put("/servers/dev-tools", json=server(description="x"), headers=CREATOR)
    assert updated.status_code == 200
    await ctx.reconciler.reconcile_all()
    assert not [call for call in asked if call[1] == "dev-tools"], asked
    assert "dev-tools" not in await ctx.runtime.workloads()
    for path in ("/servers/dev-tools/status", "/servers/dev-tools/logs", "/servers/dev-tools/restart"):
        method = "POST" if path.endswith("restart") else "GET"
        response = await app_client.request(method, path, headers=CREATOR)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert (await app_client.delete("/servers/dev-tools", headers=CREATOR)).status_code == 204
    assert not [call for call in asked if call[1] == "dev-tools"], asked


def member(**fields: Any) -> dict[str, Any]:
    return {"adapter": "github", **fields}


def with_members(*members: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "bad", "members": list(members), **fields}


BAD_SERVERS: dict[str, tuple[dict[str, Any], str]] = {
    "adapter and tool": (with_members({"adapter": "github", "tool": "weather"}), "members.0"),
    "neither adapter nor tool": (with_members({"include": ["x"]}), "members.0"),
    "unknown adapter": (with_members(member(), {"adapter": "githb"}), "members.1.adapter"),
    "unknown tool": (with_members({"tool": "wether"}), "members.0.tool"),
    "an adapter's name as a tool": (with_members({"tool": "github"}), "members.0.tool"),
    "the same adapter twice": (with_members(member(), member(include=["x"])), "members.1.adapter"),
    "alias with a dot": (with_members(member(overrides={"t": {"alias": "a.b"}})), "members.0.overrides.t.alias"),
    "alias with a space": (with_members(member(overrides={"t": {"alias": "a b"}})), "members.0.overrides.t.alias"),
    "alias too long": (with_members(member(overrides={"t": {"alias": "a" * 65}})), "members.0.overrides.t.alias"),
    "empty alias": (with_members(member(overrides={"t": {"alias": ""}})), "members.0.overrides.t.alias"),
    "alias with the separator": (
        with_members(member(overrides={"t": {"alias": "github__t"}})),
        "members.0.overrides.t.alias",
    ),
    "alias of a meta-tool": (
        with_members(member(overrides={"t": {"alias": "search_tools"}})),
        "members.0.overrides.t.alias",
    ),
    "alias used twice": (
        with_members(member(overrides={"a": {"alias": "same"}, "b": {"alias": "same"}})),
        "members.0.overrides.b.alias",
    ),
    "alias naming a tool member": (
        with_members(member(overrides={"a": {"alias": "weather"}}), {"tool": "weather"}),
        "members.0.overrides.a.alias",
    ),
    "tool override of another name": (
        with_members({"tool": "weather", "overrides": {"forecast": {"description": "x"}}}),
        "members.0",
    ),
    "override of an empty name": (with_members(member(overrides={"": {"alias": "x"}})), "members.0.overrides"),
    "override of a name with a line break": (
        with_members(member(overrides={"a\nb": {"alias": "x"}})),
        "members.0.overrides",
    ),
    "unknown override field": (
        with_members(member(overrides={"t": {"name": "x"}})),
        "members.0.overrides.t.name",
    ),
    "unknown member field": (with_members(member(includes=["x"])), "members.0.includes"),
    "unknown field": (with_members(member(), tools=["x"]), "tools"),
    "tool search value": (with_members(member(), toolSearch="sometimes"), "toolSearch"),
    "read only as text": (with_members(member(readOnly="true")), "members.0.readOnly"),
    "prefix with an underscore": (with_members(member(prefix="git_hub")), "members.0.prefix"),
    "prefix in capitals": (with_members(member(prefix="GH")), "members.0.prefix"),
    "prefix of a tool member": (with_members({"tool": "weather", "prefix": "w"}), "members.0"),
    "empty pattern": (with_members(member(include=[""])), "members.0.include.0"),
    "pattern too long": (with_members(member(exclude=["x" * 129])), "members.0.exclude.0"),
    "control character in a pattern": (with_members(member(include=["a\u0000"])), "members.0.include.0"),
    "too many patterns": (with_members(member(include=[f"p{i}" for i in range(65)])), "members.0.include"),
    "too many members": (with_members(*[{"adapter": f"a{i}"} for i in range(101)]), "members"),
    "members not a list": (with_members(members={"adapter": "github"}), "members"),
    "member name with a slash": (with_members({"adapter": "../github"}), "members.0.adapter"),
    "uppercase name": ({"name": "Dev"}, "name"),
    "reserved name": ({"name": "toolgateway"}, "name"),
}


@pytest.mark.parametrize("case", list(BAD_SERVERS))
async def test_a_bad_server_is_a_problem_naming_the_field_and_stores_nothing(
    app_client: httpx.AsyncClient, case: str
) -> None:
    await add_members(app_client)
    data, field = BAD_SERVERS[case]
    response = await app_client.post("/servers", json=data, headers=CREATOR)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert (await app_client.get("/servers", headers=ADMIN)).json() == []


async def test_every_member_problem_is_named_at_once(app_client: httpx.AsyncClient) -> None:
    await add_members(app_client)
    data = with_members(
        {"adapter": "nope"}, member(overrides={"x": {"alias": "call_tool"}}), {"tool": "weather"}, {"tool": "weather"}
    )
    response = await app_client.post("/servers", json=data, headers=CREATOR)
    assert response.status_code == 400
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["members.0.adapter", "members.1.overrides.x.alias", "members.3.tool"]
    assert "'nope'" in response.json()["detail"]


async def test_a_member_must_be_readable_by_the_writer(app_client: httpx.AsyncClient) -> None:
    # bob's adapter is private (no requiredRoles); carol's admits mcp.engineer, which alice does not hold.
    bob = {"X-Dev-UserId": "bob"}
    private = resource_body("adapters", "private", roles=[])
    assert (await app_client.post("/adapters", json=private, headers=bob)).status_code == 201
    shared = resource_body("adapters", "shared", roles=["mcp.engineer"])
    assert (await app_client.post("/adapters", json=shared, headers={"X-Dev-UserId": "carol"})).status_code == 201

    for name in ("private", "shared", "missing"):
        refused = await app_client.post("/servers", json=with_members({"adapter": name}), headers=CREATOR)
        assert refused.status_code == 400, name
        # One sentence whether it exists or not: the refusal does not say which.
        message = refused.json()["errors"][0]["message"]
        assert message.endswith("does not exist, or its requiredRoles do not include yours")

    engineer = {"X-Dev-UserId": "alice", "X-Dev-Roles": "mcp.engineer"}
    by_engineer = await app_client.post("/servers", json=with_members({"adapter": "shared"}), headers=engineer)
    assert by_engineer.status_code == 201
    over_private = {**with_members({"adapter": "private"}), "name": "b"}
    by_admin = await app_client.post("/servers", json=over_private, headers=ADMIN)
    assert by_admin.status_code == 201


async def test_a_deleted_member_stays_in_the_record_until_the_next_write_which_must_drop_it(
    app_client: httpx.AsyncClient,
) -> None:
    await add_members(app_client)
    assert (await app_client.post("/servers", json=SERVER, headers=CREATOR)).status_code == 201

    assert (await app_client.delete("/adapters/github", headers=CREATOR)).status_code == 204

    read = await app_client.get("/servers/dev-tools", headers=CREATOR)
    assert read.status_code == 200 and read.json()["members"] == STORED_MEMBERS
    again = await app_client.put("/servers/dev-tools", json=SERVER, headers=CREATOR)
    assert again.status_code == 400
    assert [e["field"] for e in again.json()["errors"]] == ["members.0.adapter"]
    dropped = server(members=SERVER["members"][1:])
    assert (await app_client.put("/servers/dev-tools", json=dropped, headers=CREATOR)).status_code == 200


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_each_caller_gets_exactly_the_access_the_rules_give(app_client: httpx.AsyncClient, caller: str) -> None:
    await add_members(app_client)
    assert (await app_client.post("/servers", json=SERVER, headers=CREATOR)).status_code == 201
    headers = CALLERS[caller]

    read = await app_client.get("/servers/dev-tools", headers=headers)
    assert read.status_code == (200 if CAN_READ[caller] else 403)
    listed = [s["name"] for s in (await app_client.get("/servers", headers=headers)).json()]
    assert listed == (["dev-tools"] if CAN_READ[caller] else [])
    put = await app_client.put("/servers/dev-tools", json=server(description="changed"), headers=headers)
    assert put.status_code == (200 if CAN_WRITE[caller] else 403), put.text
    delete = await app_client.delete("/servers/dev-tools", headers=headers)
    assert delete.status_code == (204 if CAN_WRITE[caller] else 403)
    remaining = await app_client.get("/servers/dev-tools", headers=CREATOR)
    assert remaining.status_code == (404 if CAN_WRITE[caller] else 200)


async def test_an_update_keeps_the_creator_and_refuses_another_name(app_client: httpx.AsyncClient) -> None:
    await add_members(app_client)
    await app_client.post("/servers", json=SERVER, headers=CREATOR)
    by_admin = await app_client.put("/servers/dev-tools", json=server(description="admin's"), headers=ADMIN)
    assert by_admin.status_code == 200 and by_admin.json()["createdBy"] == "alice"
    renamed = await app_client.put("/servers/dev-tools", json=server(name="other"), headers=CREATOR)
    assert renamed.status_code == 400 and renamed.json()["errors"][0]["field"] == "name"
    ghost = await app_client.put("/servers/ghost", json=server(name="ghost"), headers=CREATOR)
    assert ghost.status_code == 404


@pytest.mark.parametrize(
    ("first", "second"), [("servers", "adapters"), ("servers", "tools"), ("adapters", "servers"), ("tools", "servers")]
)
async def test_names_are_unique_across_adapters_tools_and_servers(
    app_client: httpx.AsyncClient, first: str, second: str
) -> None:
    def create(kind: str) -> dict[str, Any]:
        return {"name": "shared"} if kind == "servers" else resource_body(kind, "shared")

    assert (await app_client.post(f"/{first}", json=create(first), headers=CREATOR)).status_code == 201
    taken = await app_client.post(f"/{second}", json=create(second), headers=CREATOR)
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"


async def test_roles_are_normalised_like_an_adapters(app_client: httpx.AsyncClient) -> None:
    data = {"name": "roles", "requiredRoles": [" mcp.engineer ", "MCP.Engineer", "", "ops"]}
    response = await app_client.post("/servers", json=data, headers=CREATOR)
    assert response.status_code == 201 and response.json()["requiredRoles"] == ["mcp.engineer", "ops"]


# ----- the catalog the tool router reads --------------------------------------------------------------


def context(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.ctx  # type: ignore[attr-defined]


async def catalog(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    secret = context(client).router_secret
    return await client.get("/internal/tool-catalog", headers={"X-Gateway-Secret": secret, **headers})


async def test_the_catalog_lists_adapters_with_their_routable_urls_and_servers_as_stored(
    app_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.runtimes.base import Endpoint

    ctx = context(app_client)
    replicas = {"local-adapter": [Endpoint("local-adapter-0", "http://127.0.0.1:40001/mcp")]}
    failed_probes = {"unreachable"}

    async def endpoints(name: str) -> list[Endpoint]:
        return replicas.get(name, [])

    async def url_routable(name: str) -> bool:
        return name not in failed_probes

    monkeypatch.setattr(ctx.runtime, "endpoints", endpoints)
    monkeypatch.setattr(ctx.runtime, "url_routable", url_routable)
    await add_members(app_client)
    unreachable = {**resource_body("adapters", "unreachable", roles=[]), "url": "https://mcp.example.com/mcp"}
    assert (await app_client.post("/adapters", json=unreachable, headers=ADMIN)).status_code == 201
    # A command adapter scaled to 0 starts nothing; its replicas come from the runtime (faked above).
    local = {"name": "local-adapter", "command": "python3", "args": ["x.py"], "replicaCount": 0}
    assert (await app_client.post("/adapters", json=local, headers=CREATOR)).status_code == 201
    assert (await app_client.post("/servers", json=SERVER, headers=CREATOR)).status_code == 201

    response = await catalog(app_client)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"version", "tools", "adapters", "servers"}
    assert [t["name"] for t in body["tools"]] == ["weather"]
    assert set(body["tools"][0]) == {"name", "tool", "createdBy", "requiredRoles", "urls", "remote", "timeoutSeconds"}
    assert body["adapters"] == [
        {
            "name": "github",
            "createdBy": "alice",
            "requiredRoles": ["mcp.engineer"],
            "urls": ["http://127.0.0.1:9/mcp"],
            "remote": True,
        },
        {
            "name": "local-adapter",
            "createdBy": "alice",
            "requiredRoles": [],
            "urls": ["http://127.0.0.1:40001/mcp"],
            "remote": False,
        },
        {"name": "unreachable", "createdBy": "root", "requiredRoles": [], "urls": [], "remote": True},
    ]
    assert body["servers"] == [
        {
            "name": "dev-tools",
            "createdBy": "alice",
            "requiredRoles": ["mcp.engineer"],
            "description": "Tools for the dev team",
            "members": STORED_MEMBERS,
            "toolSearch": "off",
        }
    ]


async def test_the_catalog_version_follows_servers_and_adapters(
    app_client: httpx.AsyncClient,
) -> None:
    await add_members(app_client)
    first = await catalog(app_client)
    etag = first.headers["etag"]
    assert (await catalog(app_client, **{"If-None-Match": etag})).status_code == 304

    assert (await app_client.post("/servers", json=SERVER, headers=CREATOR)).status_code == 201
    with_server = await catalog(app_client, **{"If-None-Match": etag})
    assert with_server.status_code == 200 and with_server.headers["etag"] != etag
    assert with_server.json()["version"] == with_server.headers["etag"].strip('"')

    etag = with_server.headers["etag"]
    updated = await app_client.put("/servers/dev-tools", json=server(toolSearch="only"), headers=CREATOR)
    assert updated.status_code == 200
    changed = await catalog(app_client, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["servers"][0]["toolSearch"] == "only"

    etag = changed.headers["etag"]
    another = await app_client.post("/adapters", json=resource_body("adapters", "more"), headers=CREATOR)
    assert another.status_code == 201
    assert (await catalog(app_client, **{"If-None-Match": etag})).status_code == 200


async def test_a_damaged_server_record_is_left_out_of_listings_and_the_catalog(app_client: httpx.AsyncClient) -> None:
    ctx = context(app_client)
    await app_client.post("/servers", json={"name": "fine"}, headers=CREATOR)
    damaged = {"id": "broken", "name": "broken", "members": [{"adapter": "a", "tool": "b"}], "createdBy": "alice",
               "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z"}
    await ctx.store.create("server", "broken", damaged)

    assert [s["name"] for s in (await app_client.get("/servers", headers=ADMIN)).json()] == ["fine"]
    assert [s["name"] for s in (await catalog(app_client)).json()["servers"]] == ["fine"]
    read = await app_client.get("/servers/broken", headers=ADMIN)
    assert read.status_code == 502 and "damaged" in read.json()["detail"]
    assert (await app_client.delete("/servers/broken", headers=CREATOR)).status_code == 204
