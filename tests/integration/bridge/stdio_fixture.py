"""A stdio MCP server (mcp 2.3.0 ``MCPServer``) for the bridge tests: ``python stdio_fixture.py``.

``python stdio_fixture.py sse [SSE_PATH]`` serves the same tools over the 2024-11-05 HTTP+SSE transport on
127.0.0.1:$PORT (``GET SSE_PATH``, default ``/sse``; messages to ``/messages/``).
``python stdio_fixture.py http PATH`` serves them over Streamable HTTP at ``PATH`` on 127.0.0.1:$PORT.

Tools: ``add``; ``count_with_progress`` (progress notifications); ``shout_log`` (a log message);
``whoami`` (this process's pid, to tell sessions' children apart); ``crash`` (exits the process).
"""

from __future__ import annotations

import os
import sys
import warnings

from mcp.server.mcpserver import Context, MCPServer

# Log messages are deprecated at 2026-07-28 but are what the session-era bridge tests exercise.
warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28.*")

server = MCPServer(name="bridge-stdio-fixture", version="1.0.0", log_level="WARNING")


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Report `steps` progress notifications, then return the count.")
async def count_with_progress(steps: int, ctx: Context) -> str:
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"counted {steps}"


@server.tool(description="Send `text` as a warning log message, then return it.")
async def shout_log(text: str, ctx: Context) -> str:
    await ctx.warning(text, logger_name="fixture")
    return text


@server.tool(description="The pid of the process serving this session.")
def whoami() -> int:
    return os.getpid()


@server.tool(description="Exit the server process immediately (the session must end).")
def crash() -> str:
    sys.stdout.flush()
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["sse"]:
        sse_path = sys.argv[2] if len(sys.argv) > 2 else "/sse"
        server.run("sse", host="127.0.0.1", port=int(os.environ["PORT"]), sse_path=sse_path)
    elif sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(os.environ["PORT"]), streamable_http_path=sys.argv[2])
    else:
        server.run("stdio")
