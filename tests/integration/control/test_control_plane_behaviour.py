"""Control-plane behaviour beyond authorization: codes, headers, names and bad input."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.control.test_authorization_matrix import CREATOR, body


async def test_create_answers_201_with_location_and_resource_metadata(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post("/adapters", json=body("adapters", "svc"), headers=CREATOR)
    assert response.status_code == 201
    assert response.headers["location"] == "/adapters/svc"
    resource = response.json()
    assert resource["id"] == "svc" and resource["createdBy"] == "alice"
    assert resource["createdAt"] == resource["lastUpdatedAt"]


async def test_update_keeps_creator_and_creation_time(app_client: httpx.AsyncClient) -> None:
    created = (await app_client.post("/tools", json=body("tools", "t1"), headers=CREATOR)).json()
    updated = (
        await app_client.put(
            "/tools/t1",
            json=body("tools", "t1", description="new"),
            headers={"X-Dev-UserId": "root", "X-Dev-Roles": "mcp.admin"},
        )
    ).json()
    assert updated["createdBy"] == "alice" and updated["createdAt"] == created["createdAt"]
    assert updated["description"] == "new" and updated["lastUpdatedAt"] >= created["lastUpdatedAt"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_missing_resources_are_404_not_400(app_client: httpx.AsyncClient, method: str) -> None:
    response = await app_client.request(method, "/adapters/ghost", json=body("adapters", "ghost"), headers=CREATOR)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_put_with_a_different_name_in_the_body_is_400(app_client: httpx.AsyncClient) -> None:
    await app_client.post("/adapters", json=body("adapters", "one"), headers=CREATOR)
    response = await app_client.put("/adapters/one", json=body("adapters", "two"), headers=CREATOR)
    assert response.status_code == 400


async def test_names_are_unique_across_adapters_and_tools(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.post("/adapters", json=body("adapters", "dup"), headers=CREATOR)).status_code == 201
    assert (await app_client.post("/adapters", json=body("adapters", "dup"), headers=CREATOR)).status_code == 409
    assert (await app_client.post("/tools", json=body("tools", "dup"), headers=CREATOR)).status_code == 409


@pytest.mark.parametrize("name", ["toolgateway", "mcpgateway", "redis"])
async def test_reserved_names_are_refused(app_client: httpx.AsyncClient, name: str) -> None:
    response = await app_client.post("/adapters", json=body("adapters", name), headers=CREATOR)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


BAD_ADAPTERS = {
    "uppercase name": ({"name": "Bad", "url": "http://127.0.0.1:9/mcp"}, "name"),
    "path traversal name": ({"name": "../etc", "url": "http://127.0.0.1:9/mcp"}, "name"),
    "name too long for kubernetes": ({"name": "a" * 53, "url": "http://127.0.0.1:9/mcp"}, "name"),
    "name ending in a dash": ({"name": "svc-", "url": "http://127.0.0.1:9/mcp"}, "name"),
    "image traversal": ({"name": "img", "imageName": "../x", "imageVersion": "1"}, "imageName"),
    "bad tag": ({"name": "img", "imageName": "x", "imageVersion": "-bad tag"}, "imageVersion"),
    "wrong type": ({"name": "svc", "url": "http://127.0.0.1:9/mcp", "replicaCount": "two"}, "replicaCount"),
    "negative replicas": ({"name": "svc", "url": "http://127.0.0.1:9/mcp", "replicaCount": -1}, "replicaCount"),
    "unknown field": ({"name": "svc", "url": "http://127.0.0.1:9/mcp", "replicas": 2}, "replicas"),
    "no source": ({"name": "svc"}, "body"),
    "two sources": ({"name": "svc", "url": "http://127.0.0.1:9/mcp", "command": "python"}, "body"),
    "metadata url": ({"name": "svc", "url": "http://169.254.169.254/latest"}, "url"),
    "non-http url": ({"name": "svc", "url": "file:///etc/passwd"}, "url"),
    "bad env name": (
        {"name": "svc", "url": "http://127.0.0.1:9/mcp", "environmentVariables": {"A=B": "x"}},
        "environmentVariables",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ADAPTERS))
async def test_bad_adapter_input_is_a_problem_naming_the_field_and_stores_nothing(
    app_client: httpx.AsyncClient, case: str
) -> None:
    data, field = BAD_ADAPTERS[case]
    response = await app_client.post("/adapters", json=data, headers=CREATOR)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await app_client.get("/adapters", headers={"X-Dev-Roles": "mcp.admin"})).json() == []


def tool(name: str = "weather", **definition: object) -> dict[str, object]:
    tool_def: dict[str, object] = {"tool": {"name": name, "inputSchema": {"type": "object"}}}
    tool_def.update(definition)
    return {"name": "weather", "url": "http://127.0.0.1:9/score", "toolDefinition": tool_def}


BAD_TOOLS = {
    "port zero": (tool(port=0), "toolDefinition.port"),
    "port too high": (tool(port=65536), "toolDefinition.port"),
    "relative path": (tool(path="score"), "toolDefinition.path"),
    "path with host": (tool(path="/@169.254.169.254/metadata"), "toolDefinition.path"),
    "path traversal": (tool(path="/a/../../etc"), "toolDefinition.path"),
    "path with query": (tool(path="/score?x=1"), "toolDefinition.path"),
    "tool named differently": (tool(name="other"), "body"),
    "array input schema": (
        {**tool(), "toolDefinition": {"tool": {"name": "weather", "inputSchema": {"type": "array"}}}},
        "toolDefinition.tool.inputSchema",
    ),
    "unknown definition field": (tool(method="GET"), "toolDefinition.method"),
}


@pytest.mark.parametrize("case", list(BAD_TOOLS))
async def test_bad_tool_input_is_a_problem_naming_the_field(app_client: httpx.AsyncClient, case: str) -> None:
    data, field = BAD_TOOLS[case]
    response = await app_client.post("/tools", json=data, headers=CREATOR)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_the_original_readme_tool_payload_is_accepted(app_client: httpx.AsyncClient) -> None:
    payload = tool()
    payload["toolDefinition"]["tool"].update({"type": "http", "title": "Weather", "annotations": {"readOnly": True}})  # type: ignore[index]
    response = await app_client.post("/tools", json=payload, headers=CREATOR)
    assert response.status_code == 201, response.text
    assert "type" not in response.json()["toolDefinition"]["tool"]
    assert response.json()["toolDefinition"]["port"] == 8000


async def test_malformed_json_is_a_400_problem(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post(
        "/adapters", content=b'{"name": ', headers={**CREATOR, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_oversized_body_is_413_and_stores_nothing(app_client: httpx.AsyncClient) -> None:
    data = {**body("adapters", "big"), "description": "x" * 2_000_000}
    response = await app_client.post("/adapters", json=data, headers=CREATOR)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await app_client.get("/adapters/big", headers=CREATOR)).status_code == 404


async def test_image_only_resources_need_the_kubernetes_runtime(app_client: httpx.AsyncClient) -> None:
    data = {"name": "img", "imageName": "mcp-example", "imageVersion": "1.0.0"}
    response = await app_client.post("/adapters", json=data, headers=CREATOR)
    assert response.status_code == 400
    assert "Kubernetes runtime" in response.json()["detail"]


async def test_health_endpoints_answer(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.get("/ping")).status_code == 200
    assert (await app_client.get("/healthz")).json() == {"status": "alive"}
    assert (await app_client.get("/readyz")).json() == {"status": "ready"}


async def test_if_match_turns_concurrent_read_modify_writes_into_412_instead_of_lost_updates(
    app_client: httpx.AsyncClient,
) -> None:
    await app_client.post("/adapters", json=body("adapters", "counter"), headers=CREATOR)
    first = await app_client.get("/adapters/counter", headers=CREATOR)
    etag = first.headers["etag"]
    ok = await app_client.put(
        "/adapters/counter", json=body("adapters", "counter", description="a"), headers={**CREATOR, "If-Match": etag}
    )
    assert ok.status_code == 200
    stale = await app_client.put(
        "/adapters/counter", json=body("adapters", "counter", description="b"), headers={**CREATOR, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert (await app_client.get("/adapters/counter", headers=CREATOR)).json()["description"] == "a"
    assert (await app_client.delete("/adapters/counter", headers={**CREATOR, "If-Match": etag})).status_code == 412


async def test_restart_of_a_missing_resource_is_404_problem_json(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post("/adapters/ghost/restart", headers=CREATOR)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
