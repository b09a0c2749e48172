"""Whether a request is on the lean path's happy path: its body, its envelope, the SDK's own checks.

Nothing here answers a request. Each function says yes or no; a no sends the request to the SDK, which
answers (and refuses) it in its own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pydantic_core
from mcp.server.streamable_http import CONTENT_TYPE_JSON, StreamableHTTPServerTransport
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types import methods as _methods
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Message, Receive

HOT_METHODS = frozenset({"tools/list", "tools/call", "resources/read", "prompts/get"})
"""What the lean path answers; every other method goes to the SDK."""

_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request the lean path answers: its envelope, the protocol version it is served at, (handshake era) the
    session and its transport, whose idle clock it holds, and (2026-07-28) the client's envelope values."""

    request_id: str | int
    method: str
    params: dict[str, Any] | None
    version: str
    session_id: str | None = None
    transport: StreamableHTTPServerTransport | None = None
    client_info: Any = None
    client_capabilities: Any = None

    @property
    def meta(self) -> dict[str, Any] | None:
        meta = self.params.get("_meta") if self.params else None
        return cast(dict[str, Any], meta) if isinstance(meta, dict) else None


async def read_body(headers: Headers, receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The whole body (None when the lean path would not read it: over ``limit``, or the client left) and a
    ``receive`` that replays what was read, for the SDK."""
    declared = headers.get("content-length")
    # isascii: "²".isdigit() is true, and int("²") raises (the SDK's limit ignores what int() cannot read).
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        return None, receive
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None, replaying(read, receive)
        size += len(message.get("body", b""))
        if size > limit:
            return None, replaying(read, receive)
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in read), replaying(read, receive)


def replaying(read: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``read`` again, then whatever the client sends next."""
    pending = list(read)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def json_content(headers: Headers) -> bool:
    """The SDK transport's Content-Type rule: ``application/json`` among the types before any parameter."""
    content_type = headers.get("content-type", "")
    return any(part.strip() == CONTENT_TYPE_JSON for part in content_type.split(";")[0].split(","))


def envelope(body: bytes) -> tuple[dict[str, Any], str | int, str, dict[str, Any] | None] | None:
    """(the message, id, method, params) of a body that is exactly one JSON-RPC request for a hot method; None
    otherwise."""
    try:
        decoded = pydantic_core.from_json(body)
    except ValueError:
        return None
    if not isinstance(decoded, dict) or not decoded.keys() <= _ENVELOPE_KEYS or decoded.get("jsonrpc") != "2.0":
        return None
    request_id, method, params = decoded.get("id"), decoded.get("method"), decoded.get("params")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or method not in HOT_METHODS:
        return None
    if "params" in decoded and not isinstance(params, dict):
        return None
    return decoded, request_id, cast(str, method), params


def params_valid(method: str, version: str, params: dict[str, Any] | None) -> bool:
    """The SDK's per-version validation of a spec method's params (it refuses what fails, with its own error)."""
    try:
        _methods.validate_client_request(method, version, params)
    except (ValidationError, KeyError):
        return False
    return True


def asks_for_notifications(meta: Mapping[str, Any] | None) -> bool:
    """Whether a 2026-07-28 request opted in to anything sent during it: progress (a ``progressToken``) or log
    messages (a log level). Without either, the SDK answers a streaming server's request with one JSON body."""
    return meta is not None and ("progressToken" in meta or LOG_LEVEL_META_KEY in meta)
