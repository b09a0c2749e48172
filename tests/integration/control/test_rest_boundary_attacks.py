"""Attacks on the REST boundary, from the client side, over a real socket against a gateway process.

Bodies are sent as raw bytes (``content=``): a client library given Python objects would refuse to encode
a lone surrogate, would keep only one of two duplicate keys, and could not write NaN as the attacker
does. Every attack must be a 400 ``application/problem+json`` naming the field, and must store nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.control.strict_json import MAX_BODY_DEPTH
from gateway.models import MAX_ENV_VALUE_LENGTH, MAX_ENV_VARS, MAX_JSON_DEPTH, MAX_ROLES
from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow

ADMIN = {"X-Dev-UserId": "root", "X-Dev-Roles": "mcp.admin", "Content-Type": "application/json"}
URL = '"url": "http://127.0.0.1:9/mcp"'


def adapter(name: str, extra: str = "") -> bytes:
    """An adapter body, with ``extra`` (raw JSON members) spliced in as written."""
    return f'{{"name": "{name}", {URL}{", " + extra if extra else ""}}}'.encode()


def tool(name: str, schema: str = '{"type": "object"}', tool_extra: str = "") -> bytes:
    definition = f'{{"tool": {{"name": "{name}", "inputSchema": {schema}{", " + tool_extra if tool_extra else ""}}}}}'
    return f'{{"name": "{name}", {URL}, "toolDefinition": {definition}}}'.encode()


def nested(depth: int) -> str:
    """A valid JSON Schema that is ``depth`` objects deep, itself included (its ``default`` nests the rest)."""
    return '{"type": "object", "default": ' + '{"a": ' * (depth - 2) + "{}" + "}" * (depth - 2) + "}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("attacks") / "gw").start()
    yield process
    process.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=ADMIN, timeout=30) as http:
        yield http


def names(client: httpx.Client, kind: str) -> list[str]:
    response = client.get(f"/{kind}")
    assert response.status_code == 200, response.text
    return [resource["name"] for resource in response.json()]


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()  # it is readable JSON itself: nothing of the attack leaked into it unescaped
    assert field in [error["field"] for error in problem["errors"]], problem


ADAPTER_ATTACKS = {
    "lone surrogate in a role": (adapter("a1", r'"requiredRoles": ["ops\ud800"]'), "requiredRoles.0"),
    "low surrogate alone in the description": (adapter("a2", r'"description": "\udc00"'), "description"),
    "NUL in an argument": (b'{"name": "a3", "command": "python", "args": ["-c", "x\\u0000y"]}', "args.1"),
    "tab in the command": (b'{"name": "a4", "command": "python\\t-c"}', "command"),
    "line break in a role": (adapter("a5", r'"requiredRoles": ["a\nb"]'), "requiredRoles.0"),
    "C1 control in the name": (adapter("a\\u00856"), "name"),
    "name with a trailing newline": (adapter("a7\\n"), "name"),
    "lone surrogate in an environment variable name": (
        adapter("a8", r'"environmentVariables": {"K\ud800": "v"}'),
        "environmentVariables",
    ),
    "NUL in an environment variable value": (
        adapter("a9", r'"environmentVariables": {"TOKEN": "se\u0000cret"}'),
        "environmentVariables.TOKEN",
    ),
    "lone surrogate in the url": (b'{"name": "a10", "url": "http://127.0.0.1:9/\\ud800"}', "url"),
    "replicaCount true": (adapter("a11", '"replicaCount": true'), "replicaCount"),
    "replicaCount as a string": (adapter("a12", '"replicaCount": "3"'), "replicaCount"),
    "replicaCount as a float": (adapter("a13", '"replicaCount": 3.0'), "replicaCount"),
    "useWorkloadIdentity as a string": (adapter("a14", '"useWorkloadIdentity": "false"'), "useWorkloadIdentity"),
    "duplicate name": (b'{"name": "a15", "name": "a16", ' + URL.encode() + b"}", "body"),
    "duplicate key inside environmentVariables": (
        adapter("a17", '"environmentVariables": {"A": "1", "A": "2"}'),
        "body",
    ),
    "ten thousand roles": (adapter("a18", '"requiredRoles": [' + ", ".join(['"r"'] * 10_000) + "]"), "requiredRoles"),
    "one role too many": (
        adapter("a19", '"requiredRoles": [' + ", ".join(f'"r{i}"' for i in range(MAX_ROLES + 1)) + "]"),
        "requiredRoles",
    ),
    "one environment variable too many": (
        adapter("a20", '"environmentVariables": {' + ", ".join(f'"V{i}": ""' for i in range(MAX_ENV_VARS + 1)) + "}"),
        "environmentVariables",
    ),
    "environment value over its limit": (
        adapter("a21", '"environmentVariables": {"BIG": "' + "x" * (MAX_ENV_VALUE_LENGTH + 1) + '"}'),
        "environmentVariables.BIG",
    ),
    "NaN": (adapter("a22", '"replicaCount": NaN'), "body"),
    "a body that is not UTF-8": (b'{"name": "a23", "description": "\xff\xfe", ' + URL.encode() + b"}", "body"),
    "arrays nested 100000 deep": (adapter("a24", '"args": ' + "[" * 100_000 + "]" * 100_000), "body"),
}


@pytest.mark.parametrize("case", list(ADAPTER_ATTACKS))
def test_an_attack_on_an_adapter_body_is_a_400_naming_the_field_and_stores_nothing(
    client: httpx.Client, case: str
) -> None:
    body, field = ADAPTER_ATTACKS[case]
    before = names(client, "adapters")
    assert_refused(client.post("/adapters", content=body), field)
    assert names(client, "adapters") == before
    assert client.get("/ping").status_code == 200  # the process survived


TOOL_ATTACKS = {
    "schema nested 1000 deep": (tool("t1", nested(1000)), "body"),
    "schema nested one level too deep": (tool("t2", nested(MAX_JSON_DEPTH + 1)), "toolDefinition.tool.inputSchema"),
    "body nested one level too deep": (tool("t3", nested(MAX_BODY_DEPTH - 2)), "body"),
    "lone surrogate in a schema description": (
        tool("t4", r'{"type": "object", "description": "\ud83d"}'),
        "toolDefinition.tool.inputSchema",
    ),
    "NUL in a schema property name": (
        tool("t5", r'{"type": "object", "properties": {"a\u0000b": {"type": "string"}}}'),
        "toolDefinition.tool.inputSchema",
    ),
    "lone surrogate in a _meta key": (tool("t6", tool_extra=r'"_meta": {"\udfff": 1}'), "toolDefinition.tool._meta"),
    "Infinity in annotations": (tool("t7", tool_extra='"annotations": {"x": Infinity}'), "body"),
    "a number too large for a float": (tool("t8", '{"type": "object", "maximum": 1e400}'), "body"),
    "duplicate key in the schema": (tool("t9", '{"type": "object", "type": "array"}'), "body"),
    "C1 control in the tool title": (tool("t10", tool_extra=r'"title": "x\u009by"'), "toolDefinition.tool.title"),
    "port as a string": (
        b'{"name": "t11", ' + URL.encode() + b', "toolDefinition": {"tool": {"name": "t11"}, "port": "8000"}}',
        "toolDefinition.port",
    ),
}


@pytest.mark.parametrize("case", list(TOOL_ATTACKS))
def test_an_attack_on_a_tool_body_is_a_400_naming_the_field_and_stores_nothing(
    client: httpx.Client, case: str
) -> None:
    body, field = TOOL_ATTACKS[case]
    before = names(client, "tools")
    assert_refused(client.post("/tools", content=body), field)
    assert names(client, "tools") == before
    assert client.get("/ping").status_code == 200


def test_a_schema_at_the_depth_limit_is_accepted_and_reads_back_unchanged(client: httpx.Client) -> None:
    created = client.post("/tools", content=tool("deep", nested(MAX_JSON_DEPTH)))
    assert created.status_code == 201, created.text
    stored = client.get("/tools/deep").json()["toolDefinition"]["tool"]["inputSchema"]
    assert stored == json.loads(nested(MAX_JSON_DEPTH))
    assert client.delete("/tools/deep").status_code == 204


def test_free_text_keeps_tabs_line_breaks_and_any_unicode(client: httpx.Client) -> None:
    description = "Zeile 1\tmit Tab\r\nZeile 2: 𝄞 ☃ \u2028 日本"
    body = json.dumps({"name": "prose", "url": "http://127.0.0.1:9/mcp", "description": description})
    assert client.post("/adapters", content=body.encode()).status_code == 201
    assert client.get("/adapters/prose").json()["description"] == description
    assert "prose" in names(client, "adapters")
    assert client.delete("/adapters/prose").status_code == 204


def test_an_attack_on_a_replacement_leaves_the_stored_record_unchanged(client: httpx.Client) -> None:
    assert client.post("/adapters", content=adapter("kept", '"description": "original"')).status_code == 201
    response = client.put("/adapters/kept", content=adapter("kept", r'"description": "\ud800"'))
    assert_refused(response, "description")
    assert client.get("/adapters/kept").json()["description"] == "original"
    assert client.delete("/adapters/kept").status_code == 204


def test_a_creator_id_that_cannot_be_stored_is_refused(gateway: GatewayProcess) -> None:
    # Header values are bytes; latin-1 0x80-0x9f reach the gateway as C1 control characters.
    headers = {"X-Dev-UserId": b"eve\x80", "X-Dev-Roles": "mcp.admin", "Content-Type": "application/json"}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        response = http.post("/adapters", content=adapter("eve"), headers=headers)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert http.get("/adapters/eve", headers=ADMIN).status_code == 404


def test_an_oversized_body_is_still_413(client: httpx.Client) -> None:
    body = adapter("huge", '"description": "' + "x" * 2_000_000 + '"')
    response = client.post("/adapters", content=body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/adapters/huge").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/adapters", "GET, POST"),
        ("DELETE", "/tools", "GET, POST"),
        ("PATCH", "/adapters/x", "DELETE, GET, PUT"),
        ("POST", "/tools/x", "DELETE, GET, PUT"),
        ("OPTIONS", "/adapters/x/status", "GET"),
        ("PUT", "/ping", "GET"),
    ],
)
def test_405_lists_every_method_of_the_path(client: httpx.Client, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


def test_ping_answers_an_empty_body(client: httpx.Client) -> None:
    response = client.get("/ping")
    assert response.status_code == 200 and response.content == b""
