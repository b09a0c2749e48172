"""``apply -f``: reading resource files, and telling a changed resource from an unchanged one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli.errors import CliError
from gateway.cli.manifests import differences, parse_documents

STORED_ADAPTER: dict[str, Any] = {
    "id": "calc", "name": "calc", "createdBy": "dev", "createdAt": "2026-01-01T00:00:00Z",
    "lastUpdatedAt": "2026-01-01T00:00:00Z", "command": "python3", "args": ["main.py"], "transport": "stdio",
    "url": None, "path": None, "imageName": None, "imageVersion": None, "environmentVariables": {},
    "replicaCount": 1, "description": "", "useWorkloadIdentity": False, "requiredRoles": ["mcp.engineer"],
}
STORED_TOOL: dict[str, Any] = {
    **STORED_ADAPTER, "name": "weather",
    "toolDefinition": {"tool": {"name": "weather", "inputSchema": {"type": "object"}}, "port": 8000, "path": "/score"},
}


def test_yaml_json_lists_and_documents() -> None:
    assert parse_documents("name: a\nurl: http://x\n", "a.yaml") == [{"name": "a", "url": "http://x"}]
    assert [r["name"] for r in parse_documents("- name: a\n- name: b\n---\nname: c\n", "f.yaml")] == ["a", "b", "c"]
    assert parse_documents('[{"name": "a", "id": "a", "createdBy": "x"}]', "stdin") == [{"name": "a"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.yaml: no resources in it"),
        ("- 1\n", "f.yaml: item 1 is not a mapping of fields"),
        ("- name: a\n- name: a\n", "f.yaml: a appear more than once"),
        ("name: [", "f.yaml is not valid YAML"),
    ],
)
def test_bad_files(text: str, message: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_documents(text, "f.yaml")
    assert caught.value.message.startswith(message) and caught.value.code == 2


def test_fields_left_out_count_as_their_defaults() -> None:
    minimal = {"name": "calc", "command": "python3", "args": ["main.py"], "transport": "stdio",
               "requiredRoles": [" MCP.engineer", "mcp.Engineer"]}
    assert differences({**minimal, "requiredRoles": ["mcp.engineer"]}, STORED_ADAPTER) == []
    assert differences(minimal, {**STORED_ADAPTER, "requiredRoles": ["MCP.engineer"]}) == []
    tool = {"name": "weather", "command": "python3", "args": ["main.py"], "requiredRoles": ["mcp.engineer"],
            "toolDefinition": {"tool": {"name": "weather", "type": "http"}}}  # "type" is dropped by the gateway
    assert differences({**tool, "transport": "stdio"}, STORED_TOOL) == []


def test_changed_fields_are_named() -> None:
    desired = {"name": "calc", "command": "python3", "args": ["main.py", "--x"], "replicaCount": 2,
               "requiredRoles": ["mcp.engineer"]}
    assert differences(desired, STORED_ADAPTER) == ["args", "replicaCount", "transport"]
    assert differences({"name": "weather", "toolDefinition": {"tool": {"name": "weather"}, "port": 9000}},
                       STORED_TOOL) == ["args", "command", "requiredRoles", "toolDefinition.port", "transport"]
    assert differences({**STORED_ADAPTER, "replicaCount": True}, {**STORED_ADAPTER, "replicaCount": 1}) == [
        "replicaCount"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_a_resource_never_differs_from_itself(resource: dict[str, Any]) -> None:
    resource = {key: value for key, value in resource.items() if key != "requiredRoles"}
    assert differences(resource, resource) == []
