"""The tool router applies the gateway's text rules to the catalog: an item it could not send to clients
again (a lone surrogate, a control character, NaN, a schema too deep) is skipped, the others stay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.models import MAX_JSON_DEPTH
from toolrouter.catalog import parse_catalog


def item(name: str, **tool: Any) -> dict[str, Any]:
    definition = {"name": name, "inputSchema": {"type": "object"}, **tool}
    return {"name": name, "tool": definition, "createdBy": "alice", "requiredRoles": [], "urls": []}


def too_deep() -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(MAX_JSON_DEPTH):
        schema = {"type": "object", "default": schema}
    return schema


BAD_ITEMS = {
    "lone surrogate in the description": item("surrogate", description="x\ud800"),
    "escape sequence in the title": item("escape", title="\x1b[2J"),
    "NaN in the schema": item("nan", inputSchema={"type": "object", "maximum": float("nan")}),
    "schema too deep": item("deep", inputSchema=too_deep()),
    "control character in a _meta key": item("meta", _meta={"a\x00": 1}),
}


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_an_item_that_cannot_be_sent_again_is_skipped_and_the_others_stay(case: str) -> None:
    catalog = parse_catalog({"tools": [BAD_ITEMS[case], item("good")]})
    assert list(catalog.entries) == ["good"]
    listed = [entry.tool.model_dump(mode="json", by_alias=True) for entry in catalog.entries.values()]
    json.dumps(listed, ensure_ascii=False, allow_nan=False).encode("utf-8")
