"""Runs one ``tools/call`` against a tool's HTTP endpoint and turns every outcome into a ``CallToolResult``.

Tool problems (bad arguments, HTTP errors, time-outs, unreachable or oversized replies) are results with
``isError: true`` and one sentence the model can act on, never JSON-RPC errors: the MCP spec reserves
protocol errors for protocol problems, and a client must never hang on a broken tool.

Nothing about the caller is sent to the tool: no ``X-Mcp-UserId``/``X-Mcp-Roles``, no gateway secret, no
``Authorization``. That matches the original router and keeps the tool server from trusting identity
headers anyone on the cluster network could forge.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import anyio
import mcp_types as types
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError
from referencing.exceptions import Unresolvable

from gateway.netguard import ConnectGuard, is_address_refusal
from gateway.telemetry.tracing import inject_context
from toolrouter.catalog import CatalogEntry
from toolrouter.telemetry import tool_http_span

logger = logging.getLogger(__name__)

MAX_PROBLEMS = 20
"""A huge invalid payload must not produce a huge error result."""
BODY_EXCERPT_CHARS = 500


def error_result(message: str) -> types.CallToolResult:
    """The one shape of every failed call: a single text block and ``isError``."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _problems_result(heading: str, problems: list[str]) -> types.CallToolResult:
    """An error result: the heading, then one ``- problem`` line each."""
    return error_result("\n".join([heading, *(f"- {p}" for p in problems)]))


def argument_problems(entry: CatalogEntry, arguments: dict[str, Any]) -> list[str]:
    """Each way ``arguments`` breaks the tool's ``inputSchema``, as ``<JSON path>: <message>``."""
    return _problems(entry.validator, arguments)


def schema_problems(validator: Draft202012Validator, value: Any) -> list[str]:
    """Each way ``value`` breaks the schema ``validator`` applies, as ``<JSON path>: <message>`` (at most 20)."""
    return _problems(validator, value)


def invalid_arguments(name: str, problems: list[str]) -> types.CallToolResult:
    """The result of a call whose arguments break the tool's ``inputSchema``."""
    return _problems_result(f"Invalid arguments for tool '{name}':", problems)


def _problems(validator: Draft202012Validator, value: Any) -> list[str]:
    try:
        errors: list[SchemaValidationError] = sorted(
            validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message)
        )
    except RecursionError:
        # The tool's fault, not the caller's, and never a crash of the router.
        return ["$: the tool's schema cannot be applied (it refers to itself without end)"]
    except Unresolvable:
        return ["$: the tool's schema cannot be applied (it refers to a schema outside itself)"]
    return [f"{e.json_path}: {e.message}" for e in errors[:MAX_PROBLEMS]]


class ToolExecutor:
    """The router's client for calling registered tools: POSTs arguments to tool endpoints (aiohttp).

    aiohttp rather than httpx: httpcore's pool inspects every pooled connection on each request, which
    was a large share of the router's CPU per call in the profile (docs/benchmarks.md).

    Used as ``async with executor:`` for the app's lifespan, which opens its connection pools inside the
    event loop and closes them at the end (used without it, the pools open on the first call; ``aclose``).

    Two pools: the gateway's own tool replicas and Services, and, behind ``guard``, ``url`` tools (their
    address was chosen by a user), which connect only where the SSRF policy permits, checked on every
    connect. The default guard refuses everything but public addresses. They cannot be one pool: aiohttp
    reuses a pooled connection for any request to the same host and port without connecting again, so a
    ``url`` tool naming a replica's address would ride a connection the guard never checked (the data
    plane, ``gateway.proxy.upstream``, keeps the same two pools for the same reason).
    """

    def __init__(
        self,
        *,
        default_timeout_seconds: float,
        max_response_bytes: int,
        max_connections: int = 256,
        guard: ConnectGuard | None = None,
    ) -> None:
        self._default_timeout = default_timeout_seconds
        self._max_bytes = max_response_bytes
        self._max_connections = max_connections
        self._guard = guard or ConnectGuard()
        self._session: aiohttp.ClientSession | None = None
        self._guarded_session: aiohttp.ClientSession | None = None
        self._streams: dict[bool, aiohttp.ClientSession] = {}
        self._turns: dict[str, Iterator[int]] = {}

    async def __aenter__(self) -> ToolExecutor:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _open(self) -> None:
        """Both pools; inside the running event loop (aiohttp binds its connectors to it)."""
        if self._session is None:
            self._session = _new_session(aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=10))
        if self._guarded_session is None:
            connector = self._guard.connector(limit=self._max_connections, ttl_dns_cache=10)
            self._guarded_session = _new_session(connector)

    async def aclose(self) -> None:
        sessions = [s for s in (self._session, self._guarded_session, *self._streams.values()) if s is not None]
        self._session = self._guarded_session = None
        self._streams = {}
        for session in sessions:
            await session.close()

    async def call(self, entry: CatalogEntry, arguments: dict[str, Any] | None) -> types.CallToolResult:
        """Validate, forward and map; never raises for anything the tool or the network does."""
        name = entry.name
        arguments = arguments or {}
        problems = argument_problems(entry, arguments)
        if problems:
            return invalid_arguments(name, problems)
        if not entry.urls:
            return error_result(f"Tool '{name}' has no ready replica; try again shortly.")
        url = self._next_url(entry)
        timeout = entry.timeout_seconds or self._default_timeout
        try:
            # fail_after bounds the whole exchange; the client's own timeouts are per phase, so a server
            # that drips one byte a second would otherwise never time out.
            with anyio.fail_after(timeout):
                status, reason, content_type, body = await self._post(url, arguments, entry.remote)
        except TimeoutError:
            return error_result(f"Tool '{name}' timed out after {timeout:g} s.")
        except _TooLarge:
            return error_result(f"Tool '{name}' replied with more than {self._max_bytes} bytes; the reply was dropped.")
        except (aiohttp.ClientError, OSError) as exc:
            if is_address_refusal(exc):
                logger.warning("tool %r: the SSRF policy refused %s: %s", name, url, exc)
                return error_result(
                    f"Tool '{name}' is at an address the gateway is not allowed to reach "
                    "(link-local, cloud metadata, or a network this gateway does not reach); nothing was sent."
                )
            # The tool's internal address is not shown: it says nothing useful to an MCP client.
            logger.warning("tool %r at %s is unreachable: %s", name, url, exc)
            return error_result(f"Tool '{name}' is unreachable: {_describe(exc)}.")
        return self._map_reply(entry, status, reason, content_type, body)

    def _next_url(self, entry: CatalogEntry) -> str:
        # Round-robin per tool; the counter survives catalog refreshes, so the spread stays even.
        turn = self._turns.setdefault(entry.name, itertools.count())
        return entry.urls[next(turn) % len(entry.urls)]

    def _client(self, guarded: bool) -> aiohttp.ClientSession:
        session = self._guarded_session if guarded else self._session
        if session is None:
            self._open()
            session = self._guarded_session if guarded else self._session
            assert session is not None
        return session

    def pool(self, *, guarded: bool) -> aiohttp.ClientSession:
        """One of the two pools, for the router's other upstream clients (``toolrouter.upstream``): the
        guarded one for user-supplied addresses, the other for the gateway's own replicas and Services."""
        return self._client(guarded)

    def stream_pool(self, *, guarded: bool) -> aiohttp.ClientSession:
        """A pool for streams that stay open (adapters' standalone MCP streams), apart from :meth:`pool`: they
        would otherwise hold the connections that calls wait for. Unbounded here; the router bounds how many
        upstream sessions it keeps (``toolrouter.upstream.MAX_KEPT_SESSIONS``)."""
        session = self._streams.get(guarded)
        if session is None:
            connector = (
                self._guard.connector(limit=0, ttl_dns_cache=10)
                if guarded
                else aiohttp.TCPConnector(limit=0, ttl_dns_cache=10)
            )
            session = self._streams[guarded] = _new_session(connector)
        return session

    async def _post(self, url: str, arguments: dict[str, Any], guarded: bool) -> tuple[int, str, str, bytes]:
        payload = json.dumps(arguments, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, */*;q=0.5"}
        with tool_http_span(url) as span:
            # The trace continues into the tool (W3C traceparent); nothing else about the caller goes there.
            inject_context(headers)
            client = self._client(guarded)
            async with client.post(url, data=payload, headers=headers, allow_redirects=False) as response:
                if span is not None:
                    span.set_attribute("http.response.status_code", response.status)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise _TooLarge
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
                return response.status, response.reason or "", content_type, b"".join(chunks)

    def _map_reply(
        self, entry: CatalogEntry, status: int, reason: str, content_type: str, body: bytes
    ) -> types.CallToolResult:
        name = entry.name
        text = body.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            excerpt = text[:BODY_EXCERPT_CHARS]
            detail = f"HTTP {status} {reason}".rstrip()
            return error_result(f"Tool '{name}' failed: {detail}" + (f": {excerpt}" if excerpt else ""))
        content: list[types.ContentBlock] = [types.TextContent(type="text", text=text)]
        structured = _json_object(content_type, text)
        if entry.output_validator is not None:
            # A tool that declares an outputSchema MUST return conforming structuredContent (MCP spec);
            # clients reject anything else, so the caller gets a result that says what is wrong instead.
            if structured is None:
                problems = ["the reply is not a JSON object"]
            else:
                problems = _problems(entry.output_validator, structured)
            if problems:
                return _problems_result(f"Tool '{name}' replied with output that breaks its outputSchema:", problems)
        if structured is not None:
            return types.CallToolResult(content=content, structured_content=structured)
        return types.CallToolResult(content=content)


def _new_session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        # HTTP(S)_PROXY variables must not divert calls to in-cluster tools; tools share no cookies.
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _json_object(content_type: str, text: str) -> dict[str, Any] | None:
    """The reply as structuredContent: only a JSON object qualifies (MCP schema); arrays and scalars stay text."""
    if not _is_json(content_type):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _TooLarge(Exception):
    pass


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _describe(exc: aiohttp.ClientError | OSError) -> str:
    # The caller learns what kind of failure it was, never the tool's address (aiohttp's messages name it).
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "connection refused or host not found"
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError | aiohttp.ClientPayloadError):
        return "the connection broke before the reply was complete"
    return f"the request failed ({type(exc).__name__})"
