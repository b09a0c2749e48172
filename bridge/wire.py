"""Streamable HTTP wire helpers shared by the stdio and the remote bridge: errors, SSE framing, checks.

The bridge relays JSON-RPC without interpreting MCP semantics, so these helpers only look at what the
transport spec asks a server to check (media types, body size, session header, Host/Origin) and at the
JSON-RPC envelope (is it a request, a notification or a response; what is its id).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.loopback import LOOPBACK_HOSTS

SESSION_HEADER = "mcp-session-id"
PROTOCOL_HEADER = "mcp-protocol-version"
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")

# The handshake-era revisions a stdio server can speak through a session; 2026-07-28 is stateless and
# has no stdio binding with sessions, so a client that asks for it is told to fall back.
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
SESSION_NOT_FOUND = -32001
SERVER_ERROR = -32000
UNSUPPORTED_PROTOCOL_VERSION = -32022

SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
KEEPALIVE = b": keepalive\n\n"

Kind = Literal["request", "notification", "response"]


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


def error_body(code: int, message: str, request_id: Any = None, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response object."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def error_response(
    status: int, code: int, message: str, request_id: Any = None, *,
    data: Any = None, headers: dict[str, str] | None = None,
) -> Response:
    """An HTTP error whose body is a JSON-RPC error, as MCP clients expect from a Streamable HTTP server."""
    return JSONResponse(error_body(code, message, request_id, data), status_code=status, headers=headers)


def session_not_found(request_id: Any = None) -> Response:
    return error_response(404, SESSION_NOT_FOUND, "Session not found", request_id)


def sse_event(message: bytes) -> bytes:
    """Frame one JSON-RPC message (already serialized on a single line) as an SSE ``message`` event."""
    return b"event: message\ndata: " + message + b"\n\n"


def accepts(request: Request, media_type: str) -> bool:
    """True when the Accept header admits ``media_type`` (a missing header or ``*/*`` admits everything)."""
    header = request.headers.get("accept")
    if not header:
        return True
    major = media_type.split("/")[0]
    for part in header.split(","):
        value = part.split(";")[0].strip().lower()
        if value in (media_type, f"{major}/*", "*/*"):
            return True
    return False


def is_json_content(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes without buffering the excess."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def classify(message: Any) -> Kind | None:
    """What a JSON-RPC 2.0 message is, or None when it is not one."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    if isinstance(message.get("method"), str):
        return "request" if "id" in message else "notification"
    if "id" in message and ("result" in message or "error" in message):
        return "response"
    return None


def id_key(request_id: Any) -> str:
    """A dictionary key for a JSON-RPC id that keeps 1 and "1" apart."""
    return json.dumps(request_id, separators=(",", ":"))


def dump(message: Any) -> bytes:
    """Serialize one message on a single line (newline-delimited JSON for stdio)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def rebinding_rejection(request: Request, bind_host: str) -> Response | None:
    """DNS-rebinding protection for a loopback bind, as mcp 2.3.0 servers do it (421 Host, 403 Origin).

    A bridge bound to a non-loopback address (a Kubernetes pod) is reached by Host names we cannot know,
    so the check only applies when it listens on loopback, where a browser is the threat.
    """
    if bind_host not in LOOPBACK_HOSTS:
        return None
    host = request.headers.get("host", "")
    if _hostname(f"//{host}") not in LOOPBACK_HOSTS:
        return error_response(421, INVALID_REQUEST, "Invalid Host header")
    origin = request.headers.get("origin")
    if origin is not None and (
        urlsplit(origin).scheme not in ("http", "https") or _hostname(origin) not in LOOPBACK_HOSTS
    ):
        return error_response(403, INVALID_REQUEST, "Invalid Origin header")
    return None


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
