"""A handler's result in its wire form, by the SDK's rules (``mcp.server.runner.ServerRunner._serialize``):
cache hints, the per-version result sieve, and in 2026-07-28 ``resultType`` and the ``serverInfo`` stamp.

One thing is kept that the SDK redoes on every request: the sieved dump of a tool list whose tools a handler
hands out again (a virtual server's kept view lists the same tool objects until it is rebuilt). A warm
``tools/list`` of 500 tools spent most of its time dumping, validating and dumping those tools again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from mcp.server.caching import apply_cache_hint
from mcp.server.context import HandlerResult
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CORE_RESULT_TYPES,
    INTERNAL_ERROR,
    SERVER_INFO_META_KEY,
    CacheableResult,
    ErrorData,
    ListToolsResult,
)
from mcp_types import methods as _methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:  # the composition root imports this package
    from toolrouter.app import RouterServer

logger = logging.getLogger(__name__)

KEPT_TOOL_DUMPS = 256
"""Tool lists whose wire form is kept (per protocol version): about one per caller and server in use."""
KEPT_FROM_TOOLS = 16
"""Shorter lists are dumped each time: cheap, and a handler that builds its list afresh on every request (the
registered tools) would only push the long, kept ones out."""


class ResultShaper:
    """Shapes results for one server (its cache hints and ``serverInfo`` stamp)."""

    def __init__(self, server: RouterServer) -> None:
        self._server = server
        # (version, the ids of the listed tool objects) -> (the tools, keeping their ids unique while kept; their
        # dump). Identity, not equality: a tool object is not changed once listed, and comparing 500 tools by
        # value would cost what the dump costs.
        self._tool_dumps: OrderedDict[tuple[str, tuple[int, ...]], tuple[list[Any], list[Any]]] = OrderedDict()

    def shape(self, method: str, version: str, result: HandlerResult) -> dict[str, Any]:
        hint = self._server.cache_hints.get(method)
        if hint is not None:
            if isinstance(result, CacheableResult):
                result = apply_cache_hint(result, hint)
            elif isinstance(result, Mapping) and not _methods.is_input_required(result):
                result = {"ttlMs": hint.ttl_ms, "cacheScope": hint.scope, **result}
        if isinstance(result, ListToolsResult) and method == "tools/list" and len(result.tools) >= KEPT_FROM_TOOLS:
            dumped = self._tool_list(version, result)
        else:
            dumped = self._sieved(method, version, dumped_result(result))
        if version in MODERN_PROTOCOL_VERSIONS:
            self._stamp(dumped)
        return dumped

    def _sieved(self, method: str, version: str, dumped: dict[str, Any]) -> dict[str, Any]:
        result_type = dumped.get("resultType")
        modern = version in MODERN_PROTOCOL_VERSIONS
        # A modern extension's own result shape is the extension's to own; the sieve is for core results.
        if modern and isinstance(result_type, str) and result_type not in CORE_RESULT_TYPES:
            return dumped
        try:
            return _methods.serialize_server_result(method, version, dumped)
        except ValidationError:
            logger.exception("handler for %r returned an invalid result", method)
            raise MCPError(code=INTERNAL_ERROR, message="Handler returned an invalid result") from None

    def _tool_list(self, version: str, result: ListToolsResult) -> dict[str, Any]:
        """The sieve applies to each tool on its own, so the tools' part of a list handed out again is reused."""
        tools = list(result.tools)
        key = (version, tuple(map(id, tools)))
        kept = self._tool_dumps.get(key)
        rest = self._sieved("tools/list", version, dumped_result(result.model_copy(update={"tools": []})))
        if kept is None:
            kept = (tools, self._sieved("tools/list", version, dumped_result(result))["tools"])
            self._tool_dumps[key] = kept
            while len(self._tool_dumps) > KEPT_TOOL_DUMPS:
                self._tool_dumps.popitem(last=False)
        self._tool_dumps.move_to_end(key)
        return {**rest, "tools": kept[1]}

    def _stamp(self, dumped: dict[str, Any]) -> None:
        """2026-07-28: ``resultType`` is required, and results carry the server's ``serverInfo`` stamp (a value
        the handler set wins)."""
        if dumped.get("resultType") is None:
            dumped["resultType"] = "complete"
        meta = dumped.get("_meta")
        if meta is None:
            dumped["_meta"] = {SERVER_INFO_META_KEY: self._server.server_info_stamp}
        elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
            dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: self._server.server_info_stamp}


def dumped_result(result: Any) -> dict[str, Any]:
    """A handler's return value as a fresh dict (the SDK's ``_dump_result``)."""
    if result is None:
        return {}
    if isinstance(result, ErrorData):  # a middleware's answer: an error, never a result
        raise MCPError.from_error_data(result)
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(result, dict):
        return dict(cast(dict[str, Any], result))
    raise TypeError(f"handler returned {type(result).__name__}; expected BaseModel, dict, or None")
