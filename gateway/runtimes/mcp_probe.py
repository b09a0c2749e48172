"""Does a server answer MCP? One ``initialize`` over Streamable HTTP, and a short reason when it does not.

Readiness of an adapter replica (local runtime) and of a ``url`` adapter (both runtimes) is this probe, not
an open port or a live process: the probe POSTs ``initialize`` and accepts a JSON body, or the first event
of an SSE body, that is a JSON-RPC result carrying a ``protocolVersion``. When the server issued a session,
the probe ends it with ``DELETE`` (so the stdio bridge's child process for it ends at once).

Failures come back as a :class:`ProbeResult` with ``reason`` (for operators: ``connection refused on
127.0.0.1:41234``, ``answered HTTP 404 at /mcp``, ``answered text/html, not MCP``, ``JSON-RPC error -32603:
boom``, ``no answer within 5s``) and ``public`` (the same without addresses or server text, for callers).
:func:`parse_initialize_reply` is the pure half, unit-tested on its own.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gateway.netguard import AddressNotAllowed

PROTOCOL_VERSION = "2025-06-18"
USER_AGENT = "mcp-gateway-probe/1"
"""Sent with every probe request, so a server (or a test double) can tell probes from traffic."""
MAX_BODY_BYTES = 256 * 1024
_REQUEST = {
    "jsonrpc": "2.0",
    "id": "mcp-gateway-probe",
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-gateway-probe", "version": "1"},
    },
}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str | None = None
    """Why not, for operators (may name the address tried)."""
    public: str | None = None
    """Why not, for anyone calling the adapter (no address, no text the server sent)."""
    silent: bool = False
    """No answer in time (as opposed to a wrong one): a server still starting may be slow, not broken."""

    @classmethod
    def failed(cls, reason: str, public: str | None = None, *, silent: bool = False) -> ProbeResult:
        return cls(False, reason, public or reason, silent)


OK = ProbeResult(True)


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_sse_data(body: str) -> str | None:
    """The data of the first SSE event that has any (multi-line data joined by newlines)."""
    data: list[str] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                return "\n".join(data)
            continue
        if line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return "\n".join(data) if data else None


def parse_initialize_reply(status: int, content_type: str, body: bytes, path: str) -> ProbeResult:
    """Judge the answer to ``initialize``: OK only for a JSON-RPC result with a ``protocolVersion``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/html":
        if status >= 400:
            return ProbeResult.failed(f"answered HTTP {status} at {path} (text/html, not MCP)")
        return ProbeResult.failed(f"answered {media}, not MCP")
    text = body.decode("utf-8", errors="replace")
    if media == "text/event-stream":
        payload = _first_sse_data(text)
        if payload is None:
            if status >= 400:
                return ProbeResult.failed(f"answered HTTP {status} at {path}")
            return ProbeResult.failed("answered an event stream without any event")
    elif media == "application/json" or media.endswith("+json"):
        payload = text
    elif status >= 400:
        return ProbeResult.failed(f"answered HTTP {status} at {path}")
    else:
        return ProbeResult.failed(f"answered {media or 'a body without a content type'}, not MCP")
    try:
        message: Any = json.loads(payload)
    except ValueError:
        if status >= 400:
            return ProbeResult.failed(f"answered HTTP {status} at {path} with a body that is not JSON")
        return ProbeResult.failed("answered invalid JSON")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        if status >= 400:
            return ProbeResult.failed(f"answered HTTP {status} at {path}")
        return ProbeResult.failed("answered JSON that is not JSON-RPC, not MCP")
    error = message.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        detail = _shorten(str(error.get("message", "")))
        # The same error any caller of the adapter would get from its initialize: not a secret.
        return ProbeResult.failed(f"JSON-RPC error {code}: {detail}")
    result = message.get("result")
    if status >= 400:
        return ProbeResult.failed(f"answered HTTP {status} at {path}")
    if not isinstance(result, dict) or not isinstance(result.get("protocolVersion"), str):
        return ProbeResult.failed("answered initialize without a protocolVersion, not MCP")
    return OK


def _where(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}", parts.path or "/"


def describe_connect_error(exc: BaseException, url: str) -> ProbeResult:
    """A failure to connect, as a reason (with the address) and a public reason (without)."""
    address, _ = _where(url)
    os_error = getattr(exc, "os_error", None)
    text = str(os_error or exc).lower()
    if isinstance(os_error, ConnectionRefusedError) or "connection refused" in text or "connect call failed" in text:
        return ProbeResult.failed(f"connection refused on {address}", "connection refused")
    if isinstance(os_error, AddressNotAllowed):
        return ProbeResult.failed(f"address not allowed: {os_error}", "its address is not allowed by the SSRF policy")
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or "name or service not known" in text:
        return ProbeResult.failed(f"the host name of {address} does not resolve", "its host name does not resolve")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ProbeResult.failed(f"TLS failed with {address}: {_shorten(str(exc))}", "TLS failed")
    detail = _shorten(str(os_error or exc) or type(exc).__name__)
    return ProbeResult.failed(f"cannot connect to {address}: {detail}", "cannot connect")


async def probe_mcp(
    session: aiohttp.ClientSession, url: str, within: float = 5.0, headers: dict[str, str] | None = None
) -> ProbeResult:
    """POST ``initialize`` to ``url``; OK when it answers MCP. Never raises (but for cancellation)."""
    _, path = _where(url)
    request_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "User-Agent": USER_AGENT,
        "MCP-Protocol-Version": PROTOCOL_VERSION,
        **(headers or {}),
    }
    session_id: str | None = None
    try:
        async with asyncio.timeout(within):
            async with session.post(
                url, data=json.dumps(_REQUEST).encode(), headers=request_headers, allow_redirects=False
            ) as response:
                session_id = response.headers.get("Mcp-Session-Id")
                body = await _read_reply(response)
                if response.status == 401 and "WWW-Authenticate" in response.headers:
                    # MCP authorization: the server wants a token the probe does not have. It speaks MCP.
                    return OK
                result = parse_initialize_reply(response.status, response.headers.get("Content-Type", ""), body, path)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return _failed_exchange(exc, url, within, f" at {path}")
    if session_id:
        await _end_session(session, url, session_id, request_headers, within)
    return result


async def _read_reply(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, or for an event stream just enough for its first event (the stream may stay open)."""
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media != "text/event-stream":
        return await response.content.read(MAX_BODY_BYTES)
    received = b""
    while len(received) < MAX_BODY_BYTES:
        chunk = await response.content.readany()
        if not chunk:
            break
        received += chunk
        normalized = received.replace(b"\r\n", b"\n")
        if b"data:" in normalized and b"\n\n" in normalized[normalized.index(b"data:") :]:
            break
    return received


async def _end_session(
    session: aiohttp.ClientSession, url: str, session_id: str, headers: dict[str, str], within: float
) -> None:
    delete_headers = {**headers, "Mcp-Session-Id": session_id}
    delete_headers.pop("Content-Type", None)
    try:
        async with asyncio.timeout(within):
            async with session.delete(url, headers=delete_headers, allow_redirects=False) as response:
                await response.read()
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass  # best effort: the server ends idle sessions itself


async def probe_http(session: aiohttp.ClientSession, url: str, within: float = 5.0) -> ProbeResult:
    """Any HTTP answer: readiness of tools and of the tool router, which are not probed with MCP."""
    try:
        async with asyncio.timeout(within):
            async with session.get(url, headers={"User-Agent": USER_AGENT}, allow_redirects=False):
                return OK
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return _failed_exchange(exc, url, within)


def _failed_exchange(exc: BaseException, url: str, within: float, where: str = "") -> ProbeResult:
    """Why a probe's exchange failed: no answer in time, no connection, or a connection that broke."""
    if isinstance(exc, TimeoutError):
        public = f"no answer within {within:g}s"
        return ProbeResult.failed(f"{public}{where}", public, silent=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return describe_connect_error(exc, url)
    detail = _shorten(str(exc) or type(exc).__name__)
    return ProbeResult.failed(f"the connection broke: {detail}", "the connection broke")


def new_session(connector: aiohttp.BaseConnector | None = None) -> aiohttp.ClientSession:
    """A session for probes: no cookies, no proxy from the environment, a fresh connection each time."""
    return aiohttp.ClientSession(
        connector=connector or aiohttp.TCPConnector(force_close=True),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
    )
