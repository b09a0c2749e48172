"""``mcp-gateway client-config``: a client's MCP configuration whose servers are the gateway's endpoints.

VS Code (``.vscode/mcp.json``: ``servers`` with ``type: http``) and Cursor (``mcp.json``: ``mcpServers`` with a
``url``) reach HTTP servers themselves. Claude Desktop's ``claude_desktop_config.json`` starts stdio servers
only, so each entry runs ``npx mcp-remote URL``, which bridges stdio to Streamable HTTP (and signs in by
itself against a gateway with token authentication, through the gateway's RFC 9728 metadata, as VS Code
does). Development identities go in headers; tokens never do (the clients sign in themselves).
"""

from __future__ import annotations

from typing import Any

from gateway.cli.targets import Target


def client_config(client: str, targets: list[Target], headers: dict[str, str]) -> dict[str, Any]:
    if client == "vscode":
        return {"servers": {t.label: _http_entry(t, headers, {"type": "http"}) for t in targets}}
    if client == "cursor":
        return {"mcpServers": {t.label: _http_entry(t, headers, {}) for t in targets}}
    return {"mcpServers": {t.label: _mcp_remote_entry(t, headers) for t in targets}}


def _http_entry(target: Target, headers: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {**extra, "url": target.url}
    if headers:
        entry["headers"] = dict(headers)
    return entry


def _mcp_remote_entry(target: Target, headers: dict[str, str]) -> dict[str, Any]:
    # --transport http-only: the gateway serves Streamable HTTP, so mcp-remote must not fall back to SSE.
    args = ["-y", "mcp-remote", target.url, "--transport", "http-only"]
    if target.url.startswith("http://"):
        args.append("--allow-http")  # mcp-remote refuses plain http unless told (a gateway on localhost)
    for name, value in headers.items():
        args += ["--header", f"{name}:{value}"]  # no space after the colon: Windows shells split on it
    return {"command": "npx", "args": args}
