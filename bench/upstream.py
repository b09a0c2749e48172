"""A bench-only MCP upstream: one cheap ``add`` tool on 127.0.0.1, with the knobs the harness needs.

Run: ``python -m bench.upstream --port P [--json] [--max-sessions N]``. ``--json`` makes POST replies
``application/json`` (mcp's ``json_response=True``); without it they are one-event SSE streams, the SDK
default. ``max_sessions`` is raised well above the SDK's 10,000 so the idle-session scenario measures the
gateway, not the upstream's session cap.
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer

server = MCPServer(name="bench-upstream", version="1.0.0", log_level="WARNING")


@server.tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    return a + b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--json", action="store_true", help="json_response=True")
    parser.add_argument("--max-sessions", type=int, default=50_000)
    args = parser.parse_args()
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        json_response=args.json,
        max_sessions=args.max_sessions,
        session_idle_timeout=3600,
    )


if __name__ == "__main__":
    main()
