"""Session Example Server: tells which replica answered and how many calls this session has made.

Use it to check session affinity of a deployment: every call of one MCP session must report the same
``replica`` and a ``sessionCalls`` count that goes up by one. Run:
``python sample-servers/session-example/src/main.py`` (``$PORT``, default 8000; ``$HOST``, default
127.0.0.1). The replica name comes from ``$MCP_REPLICA_ID`` (set by the gateway's local runtime) or the
host name (the pod name on Kubernetes).
"""

from __future__ import annotations

import os
import socket
from collections import Counter

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings

REPLICA = os.environ.get("MCP_REPLICA_ID") or f"{socket.gethostname()}:{os.environ.get('PORT', '8000')}"
app = MCPServer(name="Session Example Server", version="1.0.0", log_level="WARNING")
_calls: Counter[str] = Counter()


@app.tool(description="Which replica served this call, and how many calls this session has made so far")
def whoami(ctx: Context) -> dict[str, object]:
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    session = (headers.get("mcp-session-id") if headers is not None else None) or "stateless"
    _calls[session] += 1
    return {"replica": REPLICA, "session": session, "sessionCalls": _calls[session]}


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    print(f"Session Example Server {REPLICA} on http://{host}:{port}/mcp", flush=True)
    loopback = host in ("127.0.0.1", "localhost", "::1")
    security = None if loopback else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app.run("streamable-http", host=host, port=port, transport_security=security)


if __name__ == "__main__":
    main()
