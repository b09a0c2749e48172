"""An MCP server for the portal's browser tests: what the console must show, in both protocol eras.

Run: ``python tests/browser/portal_mcp_server.py`` (Streamable HTTP at ``/mcp`` on ``$PORT``, 127.0.0.1).
Tools: ``add`` (a plain result, a log line on stdout), ``count`` (progress and log notifications while it
works), ``pick_color`` (asks the user through an elicitation: a mid-call request in the session era, an
``input_required`` round trip in the stateless one), ``picture`` (an image) and ``fail`` (``isError``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import ImageContent
from pydantic import BaseModel, Field

app = MCPServer(name="Portal Test Server", version="1.0.0", log_level="WARNING")


@app.tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    print(f"add called with a={a}, b={b}", flush=True)
    return a + b


@app.tool(description="Count to a number, reporting progress at each step")
async def count(steps: Annotated[int, Field(ge=1, le=20, description="How far to count")], ctx: Context,
                pause: float = 0.3) -> str:
    for step in range(1, steps + 1):
        await asyncio.sleep(pause)
        await ctx.report_progress(step, steps, message=f"step {step}")
        await ctx.info(f"counted {step}")
    print(f"count finished at {steps}", flush=True)
    return f"counted to {steps}"


class ColorChoice(BaseModel):
    color: Literal["red", "green", "blue"] = Field(description="Your favourite colour")
    shade: str = Field(default="plain", description="Any word")


def ask_color() -> Elicit[ColorChoice]:
    return Elicit("Which colour do you like?", ColorChoice)


@app.tool(description="Ask the user for a colour")
def pick_color(choice: Annotated[ColorChoice, Resolve(ask_color)]) -> str:
    return f"You picked {choice.color} ({choice.shade})"


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small solid PNG, made here so the test needs no image file."""
    row = b"\x00" + b"\x23\x58\xc4" * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@app.tool(description="Return a small picture")
def picture() -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(_png()).decode(), mime_type="image/png")


@app.tool(description="Always fails")
def fail() -> str:
    raise ValueError("this tool always fails")


@app.resource("portal://readme", name="readme", description="A text resource")
def readme() -> str:
    return "Hello from a resource"


@app.prompt(description="Greets someone")
def greet(name: str) -> str:
    return f"Say hello to {name}"


if __name__ == "__main__":
    print("portal test server starting", flush=True)
    app.run("streamable-http", host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
