"""``call`` and ``tools-of``: the official MCP SDK client, through the gateway, in either protocol era.

``--protocol 2025-11-25`` is the handshake era (``initialize``, a session), ``--protocol 2026-07-28`` the
stateless revision (every request names its version; no session), ``auto`` lets the SDK probe
``server/discover`` and fall back. The SDK is imported here only, when one of these commands runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    from mcp import Client

PROTOCOLS = ("auto", "2025-11-25", "2026-07-28")
T = TypeVar("T")


def client_mode(protocol: str) -> str:
    """The SDK's ``Client(mode=...)`` for ``--protocol``: the handshake era is ``legacy``, which negotiates the
    newest handshake version (2025-11-25); a modern version is adopted as it is."""
    return "legacy" if protocol == "2025-11-25" else protocol


def parse_arguments(pairs: tuple[str, ...], json_text: str | None, schema: dict[str, Any] | None) -> dict[str, Any]:
    """``--json`` first, then each ``--arg key=value`` over it. A value is JSON (``2``, ``true``, ``[1]``) unless
    the tool's schema says the property is a string, or it is not valid JSON: ``--arg city=Paris`` and
    ``--arg zip=01234`` (a string property) both mean what they say."""
    arguments: dict[str, Any] = {}
    if json_text is not None:
        try:
            parsed = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise CliError(f"--json: not valid JSON ({exc.msg} at column {exc.colno})", ExitCode.USAGE) from None
        if not isinstance(parsed, dict):
            raise CliError("--json: expected a JSON object of arguments", ExitCode.USAGE)
        arguments.update(parsed)
    properties = (schema or {}).get("properties") or {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise CliError(f"--arg {pair!r}: expected KEY=VALUE", ExitCode.USAGE)
        arguments[key] = _typed(value, properties.get(key))
    return arguments


def _typed(value: str, schema: Any) -> Any:
    if isinstance(schema, dict) and schema.get("type") == "string":
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


async def _with_client(url: str, headers: dict[str, str], protocol: str, use: Callable[[Client], Awaitable[T]]) -> T:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(url, http_client=http), mode=client_mode(protocol)) as client:
        return await use(client)


def run_mcp(url: str, headers: dict[str, str], protocol: str, use: Callable[[Client], Awaitable[T]]) -> T:
    """``use(client)`` on a connected client; a failure becomes one line naming the endpoint."""
    try:
        return asyncio.run(_with_client(url, headers, protocol, use))
    except BaseException as exc:  # the SDK's task groups wrap failures in ExceptionGroups
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        own = _innermost(exc)
        if isinstance(own, CliError):
            raise own from None
        raise CliError(f"MCP call to {url} failed: {_reason(exc)}", _code_for(exc)) from None


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    exc = _innermost(exc)
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _code_for(exc: BaseException) -> ExitCode:
    text = _reason(exc)
    if "401" in text or "403" in text or "Unauthorized" in text or "Forbidden" in text:
        return ExitCode.AUTH
    if "404" in text:
        return ExitCode.NOT_FOUND
    if "connect" in text.lower():
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED


async def list_all_tools(client: Client) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return tools


def call_tool(
    url: str, headers: dict[str, str], protocol: str, tool: str, pairs: tuple[str, ...], json_text: str | None
) -> dict[str, Any]:
    """The tool's result as the MCP document (``content``, ``structuredContent``, ``isError``)."""

    async def use(client: Client) -> dict[str, Any]:
        schema = None
        if pairs:  # the schema says which --arg values are strings; without --arg there is nothing to type
            listed = {entry["name"]: entry for entry in await list_all_tools(client)}
            if tool not in listed:
                raise CliError(f"{url} has no tool {tool!r} (tools: {', '.join(sorted(listed)) or 'none'})",
                               ExitCode.NOT_FOUND)
            schema = listed[tool].get("inputSchema")
        arguments = parse_arguments(pairs, json_text, schema)
        result = await client.call_tool(tool, arguments)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    return run_mcp(url, headers, protocol, use)


def tools_of(url: str, headers: dict[str, str], protocol: str) -> list[dict[str, Any]]:
    return run_mcp(url, headers, protocol, list_all_tools)


def result_text(result: dict[str, Any]) -> str:
    """A tool result for people: its text blocks, else its structured content, else the blocks as JSON."""
    texts = [block.get("text", "") for block in result.get("content") or [] if block.get("type") == "text"]
    if texts:
        return "\n".join(texts)
    if result.get("structuredContent") is not None:
        return json.dumps(result["structuredContent"], indent=2, ensure_ascii=False)
    return json.dumps(result.get("content") or [], indent=2, ensure_ascii=False)
