"""The lean path's result shaping: the SDK's wire form, and the kept dump of a tool list handed out again."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from mcp.server.caching import CacheHint
from mcp_types import methods

from toolrouter.app import RouterServer
from toolrouter.lean import shaping
from toolrouter.lean.shaping import KEPT_FROM_TOOLS, ResultShaper

ERAS = ["2025-03-26", "2025-11-25", "2026-07-28"]


def _tools(count: int, tag: str = "") -> list[types.Tool]:
    return [
        types.Tool(
            name=f"tool_{i}{tag}",
            title=f"Tool {i}",
            description="does a thing",
            input_schema={"type": "object", "properties": {"x": {"type": "integer"}}},
            output_schema={"type": "object"},
            annotations=types.ToolAnnotations(read_only_hint=True),
        )
        for i in range(count)
    ]


def _server() -> RouterServer:
    return RouterServer("router", version="1.0", cache_hints={"tools/list": CacheHint(ttl_ms=0, scope="private")})


def _reference(server: RouterServer, version: str, result: types.ListToolsResult) -> dict[str, Any]:
    """What the SDK's runner makes of it: the hint, the sieve, and (2026-07-28) resultType and the stamp."""
    from mcp.server.caching import apply_cache_hint

    hint = server.cache_hints["tools/list"]
    dumped = apply_cache_hint(result, hint).model_dump(by_alias=True, mode="json", exclude_none=True)
    dumped = methods.serialize_server_result("tools/list", version, dumped)
    if version == "2026-07-28":
        dumped.setdefault("resultType", "complete")
        dumped["_meta"] = {"io.modelcontextprotocol/serverInfo": server.server_info_stamp}
    return dumped


@pytest.mark.parametrize("version", ERAS)
def test_a_kept_list_is_shaped_as_the_sdk_shapes_it_and_dumped_once(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    server, tools = _server(), _tools(KEPT_FROM_TOOLS + 4)
    shaper = ResultShaper(server)
    sieved: list[int] = []
    real = methods.serialize_server_result

    def counting(method: str, v: str, dumped: dict[str, Any]) -> dict[str, Any]:
        sieved.append(len(dumped.get("tools", [])))
        return real(method, v, dumped)

    monkeypatch.setattr(shaping._methods, "serialize_server_result", counting)
    first = shaper.shape("tools/list", version, types.ListToolsResult(tools=tools))
    # A new result and a new list, the same tool objects (as a kept view hands them out): the tools' dump is kept.
    second = shaper.shape("tools/list", version, types.ListToolsResult(tools=list(tools)))
    monkeypatch.setattr(shaping._methods, "serialize_server_result", real)
    assert first == second == _reference(server, version, types.ListToolsResult(tools=tools))
    assert sorted(sieved) == [0, 0, len(tools)]  # the tools were sieved once; the rest of the result each time


def test_another_tool_object_is_dumped_again() -> None:
    server, tools = _server(), _tools(KEPT_FROM_TOOLS)
    shaper = ResultShaper(server)
    shaper.shape("tools/list", "2025-11-25", types.ListToolsResult(tools=tools))
    changed = [*tools[:-1], tools[-1].model_copy(update={"description": "does another thing"})]
    shaped = shaper.shape("tools/list", "2025-11-25", types.ListToolsResult(tools=changed))
    assert shaped["tools"][-1]["description"] == "does another thing"


def test_the_kept_dumps_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shaping, "KEPT_TOOL_DUMPS", 3)
    shaper = ResultShaper(_server())
    for n in range(10):
        shaper.shape("tools/list", "2025-11-25", types.ListToolsResult(tools=_tools(KEPT_FROM_TOOLS, tag=str(n))))
    assert len(shaper._tool_dumps) == 3


def test_a_shaped_result_does_not_share_the_kept_dump_at_its_top() -> None:
    """The stamp and resultType are written into the shaped result, never into what is kept."""
    server, tools = _server(), _tools(KEPT_FROM_TOOLS)
    shaper = ResultShaper(server)
    first = shaper.shape("tools/list", "2026-07-28", types.ListToolsResult(tools=tools))
    first["_meta"]["tampered"] = True
    first["extra"] = 1
    second = shaper.shape("tools/list", "2026-07-28", types.ListToolsResult(tools=tools))
    assert "extra" not in second and "tampered" not in second["_meta"]
