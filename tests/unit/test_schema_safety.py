"""A tool author's schema cannot make the gateway or the router fetch URLs, backtrack for hours or crash.

The router applies each tool's ``inputSchema`` to every call; these tests give it schemas written to
attack it. A real HTTP listener stands in for the address a remote ``$ref`` points at, and counts hits.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.models import McpTool
from gateway.schemas import UnsafeSchema, check_tool_schema, safe_validator
from tests.support.servers import http_server
from toolrouter.catalog import parse_catalog
from toolrouter.executor import argument_problems


class _Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    _Counter.hits = []
    with http_server(_Counter) as server:
        yield server.url


def _tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "inputSchema": schema}


def _catalog_item(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "tool": _tool(schema), "urls": ["http://127.0.0.1:1/x"], "createdBy": "a", "requiredRoles": []}


def test_a_remote_ref_is_refused_at_registration_and_never_fetched(listener: str) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": f"{listener}/latest/meta-data/"}}}
    with pytest.raises(ValidationError, match="points outside the schema"):
        McpTool.model_validate(_tool(schema))
    # A record stored before this rule (or by hand) is skipped by the router, again without a fetch.
    assert parse_catalog({"tools": [_catalog_item(schema)]}).entries == {}
    assert _Counter.hits == []


def test_the_router_validator_never_retrieves_even_if_a_remote_ref_got_through(listener: str) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": f"{listener}/schema.json"}}}
    validator = safe_validator(schema)  # built directly: the create-time check is not in the way here
    problems = argument_problems_of(validator, {"x": "anything"})
    assert problems == ["$: the tool's schema cannot be applied (it refers to a schema outside itself)"]
    assert _Counter.hits == []


def argument_problems_of(validator: Any, arguments: dict[str, Any]) -> list[str]:
    entry = type("Entry", (), {"validator": validator})()
    return argument_problems(entry, arguments)  # type: ignore[arg-type]


def test_local_refs_still_work() -> None:
    schema = {"type": "object", "$defs": {"city": {"type": "string"}}, "properties": {"c": {"$ref": "#/$defs/city"}}}
    check_tool_schema(schema)
    assert argument_problems_of(safe_validator(schema), {"c": 3}) == ["$.c: 3 is not of type 'string'"]


def test_a_self_referencing_schema_is_an_error_result_not_a_crash() -> None:
    schema = {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}}
    problems = argument_problems_of(safe_validator(schema), {"x": 1})
    assert problems == ["$: the tool's schema cannot be applied (it refers to itself without end)"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("where", ["pattern", "patternProperties"])
def test_a_catastrophic_pattern_runs_in_linear_time(where: str) -> None:
    # With backtracking, 64 characters would take longer than the universe has existed; RE2 does not care.
    evil = "^(a|a)+$"
    if where == "pattern":
        schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": evil}}}
        arguments: dict[str, Any] = {"s": "a" * 64 + "!"}
    else:
        schema = {"type": "object", "patternProperties": {evil: {"type": "integer"}}}
        arguments = {"a" * 64 + "!": "not checked", "aaa": "x"}
    check_tool_schema(schema)
    problems = argument_problems_of(safe_validator(schema), arguments)
    assert len(problems) == 1


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y"])
def test_patterns_that_need_backtracking_are_refused_at_registration(pattern: str) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    with pytest.raises(UnsafeSchema, match="linear-time matcher"):
        check_tool_schema(schema)


def test_a_property_named_like_a_keyword_is_not_mistaken_for_one() -> None:
    schema = {"type": "object", "properties": {"$ref": {"type": "string"}, "pattern": {"type": "string"}}}
    check_tool_schema(schema)
    assert argument_problems_of(safe_validator(schema), {"$ref": "x", "pattern": "y"}) == []
