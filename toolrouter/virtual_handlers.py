"""The MCP handlers of virtual servers (issue #19): a request carrying a trusted ``X-Mcp-Virtual-Server``.

Every request is checked first: a server that does not exist, or that the caller may not read, is answered
with the JSON-RPC error :data:`NOT_FOUND_CODE` (``-32602``, invalid params: what the SDK answers for a request
naming something unknown), whose message does not say which of the two it was. :class:`VirtualServerGate`
does it in front of the session manager for a request that would open a session (so a refused
``initialize`` leaves no session behind; HTTP 404), :meth:`VirtualServerHandlers.middleware` for every
other request (a session's later requests, after a role was revoked, say; 2026-07-28 requests).

``tools/list`` and ``tools/call`` go through :func:`toolrouter.virtual.tool_view`; a tool call failure is an
``isError`` result, as on ``/mcp``. With ``toolSearch`` ``"only"`` or ``"beside"`` the server also offers
two meta-tools, ``search_tools`` (a :class:`toolrouter.search.ToolIndex` over the tools the caller may see)
and ``call_tool`` (which calls one of them by name with the same checks as ``tools/call``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.principal import Principal
from gateway.schemas import safe_validator
from toolrouter.catalog import AdapterEntry, Catalog, CatalogPoller, Member, VirtualServer
from toolrouter.executor import ToolExecutor, invalid_arguments, schema_problems
from toolrouter.handlers import ToolHandlers, not_available, readable
from toolrouter.identity import principal_of, request_scope, virtual_server_of
from toolrouter.relay import downstream_request
from toolrouter.search import ToolIndex
from toolrouter.telemetry import RouterTelemetry
from toolrouter.upstream import AdapterClient, UpstreamError, downstream_session, without_envelope
from toolrouter.virtual import (
    CATALOG_SERVER,
    SEPARATOR,
    ExposedTool,
    ToolViews,
    catalog_server,
    prompt_view,
    readable_adapter,
    readable_server,
    resource_view,
    template_view,
    tool_view,
)

logger = logging.getLogger(__name__)

_ResultT = TypeVar("_ResultT", bound=types.Result)

NOT_FOUND_CODE = types.INVALID_PARAMS
"""The JSON-RPC error for a virtual server that does not exist or that the caller may not read."""

SEARCH_TOOLS = "search_tools"
CALL_TOOL = "call_tool"
DEFAULT_SEARCH_LIMIT = 10
MAX_SEARCH_LIMIT = 50

_FOUND_TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "inputSchema": {"type": "object"},
    },
    "required": ["name", "description", "inputSchema"],
}

SEARCH_TOOLS_TOOL = types.Tool(
    name=SEARCH_TOOLS,
    title="Search tools",
    description=(
        "Find the tools of this server that fit a task. Give a short description of what you want to do; "
        "the best matches come back with their input schemas. Call one with call_tool."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What you want to do, in a few words."},
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SEARCH_LIMIT,
                "default": DEFAULT_SEARCH_LIMIT,
                "description": "How many tools to return at most.",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "properties": {"tools": {"type": "array", "items": _FOUND_TOOL_SCHEMA}},
        "required": ["tools"],
    },
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)

CALL_TOOL_TOOL = types.Tool(
    name=CALL_TOOL,
    title="Call a tool",
    description="Call one of this server's tools by name (as search_tools returned it) with its arguments.",
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The tool's name."},
            "arguments": {"type": "object", "description": "The tool's arguments, as its inputSchema says."},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
)

META_TOOLS = {SEARCH_TOOLS: SEARCH_TOOLS_TOOL, CALL_TOOL: CALL_TOOL_TOOL}
_META_VALIDATORS = {name: safe_validator(tool.input_schema) for name, tool in META_TOOLS.items()}


def server_not_found(name: str) -> MCPError:
    return MCPError(NOT_FOUND_CODE, f"Server '{name}' not found, or you do not have permission to use it.")


def unknown(kind: str, name: str) -> MCPError:
    """A prompt, resource or template that the server does not have for this caller (either way, one answer)."""
    return MCPError(NOT_FOUND_CODE, f"{kind} '{name}' not found, or you do not have permission to use it.")


def _scope(ctx: ServerRequestContext[Any, Any]) -> Scope | None:
    scope = getattr(ctx.request, "scope", None)
    return scope if isinstance(scope, dict) else None


async def downstream_session_middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Names the caller's MCP session (``Mcp-Session-Id``) and request to the adapter client for the request's
    duration: the upstream sessions it opens are kept for that session (and ended with it), and what adapters
    send besides their answers is relayed to this request (``toolrouter.relay``)."""
    scope = _scope(ctx)
    session_id = Headers(scope=scope).get("mcp-session-id") if scope is not None else None
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        # 2026-07-28 has no sessions: a header that says otherwise is the client's invention, not a session
        # the SDK checked (it would open an upstream session per made-up id).
        session_id = None
    session_token = downstream_session.set(session_id or None)
    request_token = downstream_request.set(ctx if ctx.request_id is not None else None)
    try:
        return await call_next(ctx)
    finally:
        downstream_request.reset(request_token)
        downstream_session.reset(session_token)


class VirtualServerHandlers:
    """Binds the virtual-server handlers to the catalog, the two upstream clients and the telemetry."""

    def __init__(
        self,
        catalog: CatalogPoller,
        executor: ToolExecutor,
        upstream: AdapterClient,
        telemetry: RouterTelemetry | None = None,
    ) -> None:
        self._catalog = catalog
        self._executor = executor
        self._upstream = upstream
        self._telemetry = telemetry or RouterTelemetry(metrics_enabled=False)
        self._views = ToolViews(upstream)

    def resolve(self, ctx: ServerRequestContext[Any, Any]) -> tuple[Catalog, VirtualServer, Principal]:
        """The current catalog, the request's server and its caller; :func:`server_not_found` otherwise."""
        scope = _scope(ctx)
        found = self.usable(scope)
        if found is None:
            raise server_not_found(virtual_server_of(scope) or "")
        return found

    def usable(self, scope: Scope | None) -> tuple[Catalog, VirtualServer, Principal] | None:
        """The catalog, server and caller of a request for a server its caller may use; else None."""
        principal = principal_of(scope)
        catalog = self._catalog.current
        server = readable_server(catalog, virtual_server_of(scope) or "", principal)
        if server is None or principal is None:
            return None
        return catalog, server, principal

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """For the SDK's check of a 2026-07-28 ``tools/call``'s ``Mcp-Param-*`` headers (which runs before the
        handlers and would otherwise run ``tools/list``, the whole view, on every call): the input schema of
        the tool the caller's kept view lists as ``name``. None (no check) when the view is not kept or has no
        such tool: the call then fails or succeeds on its own, and the router derives the headers it sends an
        adapter from the arguments itself, so an unchecked header reaches no adapter."""
        found = self.usable(request_scope.get())
        view = self._views.cached(*found) if found is not None else None
        exposed = view.get(name) if view is not None else None
        return exposed.tool.input_schema if exposed is not None else None

    def lists_quietly(self, scope: Scope | None) -> bool:
        """Whether a ``tools/list`` of this request is answered from what is kept, asking no adapter (so nothing
        can be relayed to the request): a server that lists only its meta-tools, or the caller's current kept
        view. The lean path takes a handshake-era list only then (``toolrouter.lean``)."""
        found = self.usable(scope)
        if found is None:
            return False  # the SDK's path says the server was not found
        catalog, server, principal = found
        return server.tool_search == "only" or self._views.cached(catalog, server, principal) is not None

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Every request, ``initialize`` included, first checks that the caller may use the server."""
        if ctx.request_id is not None:
            self.resolve(ctx)
        return await call_next(ctx)

    # --- tools ---------------------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        catalog, server, principal = self.resolve(ctx)
        tools: list[types.Tool] = []
        if server.tool_search != "off":
            tools.extend(META_TOOLS.values())
        if server.tool_search == "off":
            return types.ListToolsResult(tools=await self._views.tools(catalog, server, principal))
        if server.tool_search != "only":
            view = await self._views.view(catalog, server, principal)
            tools.extend(t.tool for name, t in view.items() if not self._is_meta(server, name))
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        catalog, server, principal = self.resolve(ctx)
        view = await self._views.view(catalog, server, principal)
        if self._is_meta(server, params.name):
            with self._telemetry.tool_call(_scope(ctx), principal, params, known=True) as record:
                record.detail["server"] = server.name
                result = await self._meta(server, principal, view, params, ctx)
                record.finished(result)
                return result
        return await self._call(ctx, server, principal, view, params)

    async def _call(
        self,
        ctx: ServerRequestContext[Any, Any],
        server: VirtualServer,
        principal: Principal,
        view: dict[str, ExposedTool],
        params: types.CallToolRequestParams,
    ) -> types.CallToolResult | types.InputRequiredResult:
        exposed = view.get(params.name)
        with self._telemetry.tool_call(_scope(ctx), principal, params, known=exposed is not None) as record:
            if server.name != CATALOG_SERVER:
                record.detail["server"] = server.name
            if exposed is None or self._is_meta(server, params.name):
                record.denied()
                return not_available(params.name)
            result = await self._run(exposed, principal, params)
            record.finished(result)
            return result

    async def _run(
        self, exposed: ExposedTool, principal: Principal, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        if exposed.entry is not None:
            # The executor names the tool in its messages: the name the caller used.
            entry = dataclasses.replace(exposed.entry, tool=exposed.tool)
            return await self._executor.call(entry, params.arguments)
        assert exposed.adapter is not None
        name = exposed.tool.name
        return await self._upstream.call_tool(exposed.adapter, principal, name, exposed.original, params)

    @staticmethod
    def _is_meta(server: VirtualServer, name: str) -> bool:
        """Whether ``name`` is one of the server's meta-tools (they shadow member tools of the same name)."""
        return server.tool_search != "off" and name in META_TOOLS

    # --- prompts and resources of adapter members ---------------------------------------------------------

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        catalog, server, principal = self.resolve(ctx)
        view = await prompt_view(catalog, server, principal, self._upstream)
        return types.ListPromptsResult(prompts=[p.prompt for p in view.values()])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        catalog, server, principal = self.resolve(ctx)
        return await self._get_prompt(catalog, server, principal, params)

    async def _get_prompt(
        self, catalog: Catalog, server: VirtualServer, principal: Principal, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        exposed = (await prompt_view(catalog, server, principal, self._upstream)).get(params.name)
        if exposed is None:
            raise unknown("Prompt", params.name)
        request = types.GetPromptRequest(
            params=types.GetPromptRequestParams(name=exposed.original.name, arguments=params.arguments)
        )
        return await self._relay(exposed.adapter, principal, request, types.GetPromptResult)

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        catalog, server, principal = self.resolve(ctx)
        view = await resource_view(catalog, server, principal, self._upstream)
        return types.ListResourcesResult(resources=[r.resource for r in view.values()])

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        catalog, server, principal = self.resolve(ctx)
        uri = str(params.uri)
        adapter = await self._resource_owner(catalog, server, principal, uri)
        request = types.ReadResourceRequest(params=types.ReadResourceRequestParams(uri=uri))
        return await self._relay(adapter, principal, request, types.ReadResourceResult)

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        catalog, server, principal = self.resolve(ctx)
        view = await template_view(catalog, server, principal, self._upstream)
        return types.ListResourceTemplatesResult(resource_templates=[t.template for t in view.values()])

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        """Subscribed at the member that has the resource, on the caller's upstream session: its
        ``notifications/resources/updated`` come back to the caller (``toolrouter.relay``)."""
        catalog, server, principal = self.resolve(ctx)
        adapter = await self._resource_owner(catalog, server, principal, str(params.uri))
        request = types.SubscribeRequest(params=types.SubscribeRequestParams(uri=params.uri))
        return await self._relay(adapter, principal, request, types.EmptyResult)

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        catalog, server, principal = self.resolve(ctx)
        adapter = await self._resource_owner(catalog, server, principal, str(params.uri))
        request = types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=params.uri))
        return await self._relay(adapter, principal, request, types.EmptyResult)

    async def _resource_owner(
        self, catalog: Catalog, server: VirtualServer, principal: Principal, uri: str
    ) -> AdapterEntry:
        """The member adapter that lists ``uri`` as a resource, else the first whose templates produce it."""
        exposed = (await resource_view(catalog, server, principal, self._upstream)).get(uri)
        if exposed is not None:
            return exposed.adapter
        for template in (await template_view(catalog, server, principal, self._upstream)).values():
            if template.pattern.fullmatch(uri):
                return template.adapter
        raise unknown("Resource", uri)

    # --- completion and logging ---------------------------------------------------------------------------

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """Completion of a prompt's or a resource template's argument, asked of the member that has it."""
        catalog, server, principal = self.resolve(ctx)
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            prompt = (await prompt_view(catalog, server, principal, self._upstream)).get(ref.name)
            if prompt is None:
                raise unknown("Prompt", ref.name)
            adapter = prompt.adapter
            ref = ref.model_copy(update={"name": prompt.original.name})
        else:
            template = (await template_view(catalog, server, principal, self._upstream)).get(ref.uri)
            if template is None:
                raise unknown("Resource template", ref.uri)
            adapter = template.adapter
        request = types.CompleteRequest(params=params.model_copy(update={"ref": ref}))
        return await self._relay(adapter, principal, request, types.CompleteResult)

    async def set_logging_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """Passed on to every member adapter the caller may read, on the caller's upstream sessions (a member
        that refuses or does not answer is skipped: the level is a wish, not a contract)."""
        catalog, server, principal = self.resolve(ctx)
        adapters = [a for m in server.members if (a := readable_adapter(catalog, m, principal)) is not None]
        request = types.SetLevelRequest(params=types.SetLevelRequestParams(level=params.level))

        async def tell(adapter: AdapterEntry) -> None:
            try:
                await self._relay(adapter, principal, request, types.EmptyResult)
            except MCPError as exc:
                logger.debug("adapter %r: logging/setLevel: %s", adapter.name, exc.error.message)

        async with anyio.create_task_group() as tasks:
            for adapter in adapters:
                tasks.start_soon(tell, adapter)
        return types.EmptyResult()

    async def _relay(
        self, adapter: AdapterEntry, principal: Principal, request: types.Request[Any, Any], result: type[_ResultT]
    ) -> _ResultT:
        """One request to the adapter; its JSON-RPC error is passed on as it is, its silence as -32603."""

        async def send(session: ClientSession) -> _ResultT:
            return await session.send_request(request, result)

        try:
            return without_envelope(await self._upstream.request(adapter, principal, send))
        except UpstreamError as exc:
            raise MCPError(types.INTERNAL_ERROR, f"Adapter '{adapter.name}' did not answer: {exc}.") from None

    # --- meta-tools ----------------------------------------------------------------------------------------

    async def _meta(
        self,
        server: VirtualServer,
        principal: Principal,
        view: dict[str, ExposedTool],
        params: types.CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
    ) -> types.CallToolResult | types.InputRequiredResult:
        name, arguments = params.name, params.arguments or {}
        problems = schema_problems(_META_VALIDATORS[name], arguments)
        if problems:
            return invalid_arguments(name, problems)
        members = [t.tool for n, t in view.items() if not self._is_meta(server, n)]
        if name == SEARCH_TOOLS:
            limit = int(arguments.get("limit", DEFAULT_SEARCH_LIMIT))  # 5.0 is an integer to JSON Schema
            found = ToolIndex(members).search(arguments["query"], limit=limit)
            payload = {"tools": [_found(tool) for tool, _ in found]}
            text = types.TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))
            return types.CallToolResult(content=[text], structured_content=payload)
        # A retry of a call the tool answered with InputRequiredResult carries the answers on the outer call.
        inner = types.CallToolRequestParams(
            name=arguments["name"],
            arguments=arguments.get("arguments"),
            input_responses=params.input_responses,
            request_state=params.request_state,
        )
        return await self._call(ctx, server, principal, view, inner)


class CatalogServerHandlers(VirtualServerHandlers):
    """``/mcp`` itself when it aggregates adapters (``MCPGW_ROUTER__AGGREGATE_ADAPTERS``): the virtual server
    :func:`toolrouter.virtual.catalog_server` (every registered tool, then every adapter), which every caller
    may use; what they see of it is per member, as on any virtual server.

    A registered tool the caller may read is called exactly as on the registered-tools-only ``/mcp``
    (:class:`toolrouter.handlers.ToolHandlers`, its messages and its telemetry); other names are looked up
    only in the adapter their ``{adapter}__`` prefix names, so a call does not list every adapter.
    """

    def __init__(
        self,
        catalog: CatalogPoller,
        executor: ToolExecutor,
        upstream: AdapterClient,
        tools: ToolHandlers,
        telemetry: RouterTelemetry | None = None,
    ) -> None:
        super().__init__(catalog, executor, upstream, telemetry)
        self._tools = tools
        self._built: tuple[Catalog, VirtualServer] | None = None

    def _server(self, catalog: Catalog) -> VirtualServer:
        """:func:`catalog_server` of this catalog, built once per catalog (they are immutable snapshots)."""
        built = self._built
        if built is None or built[0] is not catalog:
            built = self._built = (catalog, catalog_server(catalog))
        return built[1]

    def usable(self, scope: Scope | None) -> tuple[Catalog, VirtualServer, Principal]:
        catalog = self._catalog.current
        principal = principal_of(scope)
        if principal is None:
            # Anonymous may read nothing: a server without members, so the placeholder is never asked about.
            return catalog, _NOTHING, _NOBODY
        return catalog, self._server(catalog), principal

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """A registered tool's schema as on ``/mcp`` (:meth:`ToolHandlers.input_schema`), else an adapter's
        from the caller's kept view."""
        return self._tools.input_schema(name) or super().input_schema(name)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        if not self._catalog.current.adapters:
            return await self._tools.list_tools(ctx, params)  # nothing to add: the registered tools as they are
        return await super().list_tools(ctx, params)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        catalog, server, principal = self.resolve(ctx)
        entry = catalog.get(params.name)
        member = _adapter_member(catalog, params.name)
        if member is None or principal is _NOBODY or (entry is not None and readable(entry, principal)):
            # A registered tool comes first in the server (it keeps a name an adapter's tool would expose too).
            return await self._tools.call_tool(ctx, params)
        narrowed = dataclasses.replace(server, members=(member,))
        view = await tool_view(catalog, narrowed, principal, self._upstream)
        return await self._call(ctx, narrowed, principal, view, params)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        # Only the adapter the name's prefix names can expose it: ask that one alone.
        catalog, server, principal = self.resolve(ctx)
        member = _adapter_member(catalog, params.name)
        narrowed = dataclasses.replace(server, members=(member,) if member and server.members else ())
        return await self._get_prompt(catalog, narrowed, principal, params)


_NOTHING = VirtualServer(CATALOG_SERVER, "", (), None, ())
_NOBODY = Principal(user_id="")
"""Stands for an anonymous caller beside :data:`_NOTHING` (no members: nothing is ever checked against it)."""


def _adapter_member(catalog: Catalog, name: str) -> Member | None:
    """The adapter member that could expose ``name`` (``{adapter}__{tool}``), if that adapter exists."""
    adapter, separator, _ = name.partition(SEPARATOR)
    return Member(adapter=adapter) if separator and adapter in catalog.adapters else None


def _found(tool: types.Tool) -> dict[str, Any]:
    found: dict[str, Any] = {"name": tool.name}
    if tool.title:
        found["title"] = tool.title
    found["description"] = tool.description or ""
    found["inputSchema"] = tool.input_schema
    return found


MAX_REFUSED_BODY_BYTES = 65_536
"""How much of a refused request's body is read to find its JSON-RPC id (beyond that: ``id: null``)."""


class VirtualServerGate:
    """Refuses a request that would open a session on a server its caller may not use, before the session
    manager opens one: HTTP 404 with the JSON-RPC error of :func:`server_not_found`, carrying the request's
    id when its body has one. Requests of an open session and 2026-07-28 requests (no sessions) go on to
    the MCP layer, where :meth:`VirtualServerHandlers.middleware` checks them."""

    def __init__(self, app: ASGIApp, handlers: VirtualServerHandlers) -> None:
        self._app = app
        self._handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        opening = (
            scope.get("method") == "POST"
            and b"mcp-session-id" not in headers
            and headers.get(b"mcp-protocol-version", b"").decode("latin-1") not in MODERN_PROTOCOL_VERSIONS
        )
        if not opening or self._handlers.usable(scope) is not None:
            await self._app(scope, receive, send)
            return
        error = server_not_found(virtual_server_of(scope) or "").error.model_dump(exclude_none=True)
        reply = {"jsonrpc": "2.0", "id": _request_id(await _body(receive)), "error": error}
        body = json.dumps(reply).encode()
        start: Message = {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REFUSED_BODY_BYTES:
            return b""
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _request_id(body: bytes) -> str | int | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, str | int) and not isinstance(request_id, bool) else None
