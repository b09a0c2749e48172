"""The MCP request handlers: ``tools/list`` and ``tools/call`` over the current catalog.

Read access is checked per tool on every list and every call with the caller of *that* request, using
the gateway's own rule (``gateway.auth.rbac.can_read``), so both processes always agree.

A tool the caller may not read is answered exactly like a tool that does not exist. Telling the two
apart would let anyone probe which tool names are registered, and ``tools/list`` already hides them;
the message names both possibilities so a legitimate user still knows what to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from toolrouter.catalog import CatalogEntry, CatalogPoller
from toolrouter.executor import ToolExecutor, error_result
from toolrouter.identity import principal_of, request_scope, virtual_server_of
from toolrouter.sessions import OpenSessions
from toolrouter.telemetry import RouterTelemetry

SESSION_ID_HEADER = "mcp-session-id"


def caller(ctx: ServerRequestContext[Any, Any]) -> Principal | None:
    """The principal of the HTTP request that carried this message (None: anonymous)."""
    return principal_of(getattr(ctx.request, "scope", None))


def readable(entry: CatalogEntry, principal: Principal | None) -> bool:
    return can_read(principal, entry.created_by, entry.required_roles)


def not_available(name: str) -> types.CallToolResult:
    return error_result(f"Tool '{name}' not found, or you do not have permission to call it.")


class ToolHandlers:
    """Binds the handlers to the catalog, the executor and the open-session registry."""

    def __init__(
        self,
        catalog: CatalogPoller,
        executor: ToolExecutor,
        sessions: OpenSessions,
        telemetry: RouterTelemetry | None = None,
    ) -> None:
        self._catalog = catalog
        self._executor = executor
        self._sessions = sessions
        self._telemetry = telemetry or RouterTelemetry(metrics_enabled=False)

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """For the SDK's check of a 2026-07-28 ``tools/call``'s ``Mcp-Param-*`` headers, which runs before the
        handlers and would otherwise run ``tools/list`` (every registered tool) on every call: the schema of the
        registered tool ``name`` when the caller may use it; None (no check) otherwise, and the call answers
        "not found" by itself."""
        entry = self._catalog.current.get(name)
        if entry is None or not readable(entry, principal_of(request_scope.get())):
            return None
        return entry.tool.input_schema

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = caller(ctx)
        entries = self._catalog.current.entries.values()
        tools = sorted((e.tool for e in entries if readable(e, principal)), key=lambda t: t.name)
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        entry = self._catalog.current.get(params.name)
        principal = caller(ctx)
        scope = getattr(ctx.request, "scope", None)
        with self._telemetry.tool_call(scope, principal, params, known=entry is not None) as record:
            if entry is None or not readable(entry, principal):
                record.denied()
                return not_available(params.name)
            result = await self._executor.call(entry, params.arguments)
            record.finished(result)
            return result

    async def session_initialized(self, ctx: ServerRequestContext[Any, Any], params: types.NotificationParams) -> None:
        """Remember the session (and its virtual server, if any) so changes reach it (handshake era only: it
        has a session id)."""
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get(SESSION_ID_HEADER) if headers is not None else None
        if session_id:
            scope = getattr(ctx.request, "scope", None)
            scope = scope if isinstance(scope, dict) else None
            self._sessions.remember(session_id, ctx.session, virtual_server_of(scope), principal_of(scope))
