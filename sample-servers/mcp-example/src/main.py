"""MCP Example Server: a Streamable HTTP MCP server with one ``add`` tool.

Run: ``python sample-servers/mcp-example/src/main.py`` (serves ``/mcp`` on ``$PORT``, default 8000,
binding ``$HOST``, default 127.0.0.1). It speaks both protocol eras (2025-xx sessions and 2026-07-28).
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

app = MCPServer(name="MCP Example Server", version="1.0.0", log_level="WARNING")


@app.tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    # The original prints a debug line per call; the gateway's log endpoint shows it.
    print(f"add called with a={a}, b={b}", flush=True)
    return a + b


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    print(f"MCP Example Server listening on http://{host}:{port}/mcp", flush=True)
    sys.stdout.flush()
    # Inside a container the gateway reaches us by pod DNS name, so Host checks are left to the gateway.
    security = (
        None
        if host in ("127.0.0.1", "localhost", "::1")
        else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    app.run("streamable-http", host=host, port=port, transport_security=security)


if __name__ == "__main__":
    main()
