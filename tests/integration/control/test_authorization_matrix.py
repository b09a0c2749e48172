"""The original's authorization rules, end to end over the REST API (dev identities).

Read = creator, ``mcp.admin`` or a holder of a ``requiredRoles`` entry; write = creator or admin.
"""

from __future__ import annotations

import httpx
import pytest

CREATOR = {"X-Dev-UserId": "alice"}
OTHER = {"X-Dev-UserId": "mallory", "X-Dev-Roles": "mcp.guest"}
ROLE_HOLDER = {"X-Dev-UserId": "bob", "X-Dev-Roles": "MCP.Engineer"}  # role names are case-insensitive
ADMIN = {"X-Dev-UserId": "root", "X-Dev-Roles": "mcp.admin"}

CALLERS = {"creator": CREATOR, "other": OTHER, "role-holder": ROLE_HOLDER, "admin": ADMIN}
CAN_READ = {"creator": True, "other": False, "role-holder": True, "admin": True}
CAN_WRITE = {"creator": True, "other": False, "role-holder": False, "admin": True}


def body(kind: str, name: str, roles: list[str] | None = None, description: str = "") -> dict[str, object]:
    data: dict[str, object] = {
        "name": name,
        "url": "http://127.0.0.1:9/mcp",
        "requiredRoles": roles if roles is not None else ["mcp.engineer"],
        "description": description,
    }
    if kind == "tools":
        data["toolDefinition"] = {"tool": {"name": name, "inputSchema": {"type": "object"}}}
    return data


@pytest.mark.parametrize("kind", ["adapters", "tools"])
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_each_caller_gets_exactly_the_access_the_rules_give(
    app_client: httpx.AsyncClient, kind: str, caller: str
) -> None:
    created = await app_client.post(f"/{kind}", json=body(kind, "res"), headers=CREATOR)
    assert created.status_code == 201, created.text
    headers = CALLERS[caller]
    read_status = 200 if CAN_READ[caller] else 403

    assert (await app_client.get(f"/{kind}/res", headers=headers)).status_code == read_status
    assert (await app_client.get(f"/{kind}/res/status", headers=headers)).status_code == read_status
    assert (await app_client.get(f"/{kind}/res/logs", headers=headers)).status_code == read_status
    listed = [r["name"] for r in (await app_client.get(f"/{kind}", headers=headers)).json()]
    assert listed == (["res"] if CAN_READ[caller] else [])

    restart = await app_client.post(f"/{kind}/res/restart", headers=headers)
    assert restart.status_code == (202 if CAN_WRITE[caller] else 403), restart.text
    if CAN_WRITE[caller]:
        assert restart.json()["replicaStatus"]  # the status at the moment the restart began
    else:
        assert restart.headers["content-type"] == "application/problem+json"

    put = await app_client.put(f"/{kind}/res", json=body(kind, "res", description="changed"), headers=headers)
    assert put.status_code == (200 if CAN_WRITE[caller] else 403), put.text
    delete = await app_client.delete(f"/{kind}/res", headers=headers)
    assert delete.status_code == (204 if CAN_WRITE[caller] else 403)
    remaining = await app_client.get(f"/{kind}/res", headers=CREATOR)
    assert remaining.status_code == (404 if CAN_WRITE[caller] else 200)


@pytest.mark.parametrize("kind", ["adapters", "tools"])
async def test_empty_required_roles_leave_read_to_creator_and_admins(app_client: httpx.AsyncClient, kind: str) -> None:
    await app_client.post(f"/{kind}", json=body(kind, "private", roles=[]), headers=CREATOR)
    assert (await app_client.get(f"/{kind}/private", headers=ROLE_HOLDER)).status_code == 403
    assert (await app_client.get(f"/{kind}/private", headers=ADMIN)).status_code == 200
    assert (await app_client.get(f"/{kind}/private", headers=CREATOR)).status_code == 200


async def test_a_required_role_never_grants_write(app_client: httpx.AsyncClient) -> None:
    await app_client.post("/adapters", json=body("adapters", "shared"), headers=CREATOR)
    response = await app_client.put("/adapters/shared", json=body("adapters", "shared", roles=[]), headers=ROLE_HOLDER)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_workload_identity_is_reserved_to_admins(app_client: httpx.AsyncClient) -> None:
    data = {**body("adapters", "wi"), "useWorkloadIdentity": True}
    assert (await app_client.post("/adapters", json=data, headers=CREATOR)).status_code == 403
    assert (await app_client.get("/adapters/wi", headers=ADMIN)).status_code == 404  # nothing stored
    assert (await app_client.post("/adapters", json=data, headers=ADMIN)).status_code == 201


async def test_workload_identity_cannot_change_after_create(app_client: httpx.AsyncClient) -> None:
    await app_client.post("/adapters", json=body("adapters", "fixed"), headers=ADMIN)
    changed = {**body("adapters", "fixed"), "useWorkloadIdentity": True}
    response = await app_client.put("/adapters/fixed", json=changed, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "useWorkloadIdentity"
