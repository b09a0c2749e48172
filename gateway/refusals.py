"""Errors the server answers on its own, outside the app: limits on requests (gateway/server.py) and the
shutdown drain (gateway/drain.py).

They use the same two bodies as the app's own errors: a JSON-RPC error on MCP paths, problem+json
elsewhere, so a client never gets text/plain from the gateway.
"""

from __future__ import annotations

import json

from gateway.errors import PROBLEM_CONTENT_TYPE, GatewayError, jsonrpc_error_body, problem_body
from gateway.proxy.routes import is_mcp_path


def refusal_body(path: str, error: GatewayError) -> tuple[bytes, bytes]:
    """The content type and body answering ``error`` for a request to ``path``."""
    if is_mcp_path(path):
        return b"application/json", json.dumps(jsonrpc_error_body(error)).encode()
    return PROBLEM_CONTENT_TYPE.encode(), json.dumps(problem_body(error, path)).encode()


def refusal_headers(content_type: bytes, body: bytes, error: GatewayError) -> list[tuple[bytes, bytes]]:
    """Headers of a refusal; it always closes the connection, which may be in an unknown state."""
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
    return headers
