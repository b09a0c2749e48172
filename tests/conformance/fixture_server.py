"""The project's MCP conformance fixture: an mcp 2.3.0 ``MCPServer`` with the names the
``@modelcontextprotocol/conformance`` server scenarios call (see docs in the harness: each scenario's
"Server Implementation Requirements").

    python tests/conformance/fixture_server.py --port 3101            # Streamable HTTP on 127.0.0.1/mcp
    python tests/conformance/fixture_server.py --transport stdio      # the same server over stdio

Bound to 127.0.0.1, mcp 2.3.0 switches on its DNS-rebinding protection by itself (421/403), which is
what the ``dns-rebinding-protection`` scenario checks. An in-memory event store plus a short
``retry_interval`` make ``test_reconnection`` (SEP-1699 SSE polling) resumable.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import struct
import warnings
from collections import deque
from typing import Any

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId

# Logging and sampling are deprecated at 2026-07-28 but are exactly what the session-era scenarios test.
warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28.*")

# A 1x1 red PNG, built by hand so the fixture needs no image library.
RED_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def _silent_wav(samples: int = 8, rate: int = 8000) -> bytes:
    """A tiny valid PCM WAV file: 8-bit mono silence."""
    data = bytes([128]) * samples
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data


PNG_B64 = base64.b64encode(RED_PIXEL_PNG).decode()
WAV_B64 = base64.b64encode(_silent_wav()).decode()
# 2020-12 keywords, including the wider vocabulary of SEP-2106 ($anchor, allOf/anyOf, if/then/else).
SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "address",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        },
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "allOf": [{"anyOf": [{"required": ["name"]}, {"required": ["address"]}]}],
    "if": {"required": ["address"]},
    "then": {"properties": {"name": {"minLength": 1}}},
    "else": {"properties": {"name": {"type": "string"}}},
    "additionalProperties": False,
}


class MemoryEventStore(EventStore):
    """A bounded in-memory event log so a client can resume an SSE stream with Last-Event-ID."""

    def __init__(self, limit: int = 10_000) -> None:
        self._events: deque[tuple[EventId, StreamId, Any]] = deque(maxlen=limit)
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: Any) -> EventId:
        event_id = str(next(self._ids))
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        stream = next((s for e, s, _ in self._events if e == last_event_id), None)
        if stream is None:
            return None
        after = False
        for event_id, stream_id, message in list(self._events):
            if after and stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream


class FixtureServer(MCPServer):
    """MCPServer plus the handlers 2.3.0 has no decorator for (subscribe, setLevel) and a raw schema."""

    def __init__(self) -> None:
        super().__init__(name="mcp-gateway-conformance-fixture", version="1.0.0", log_level="WARNING")
        self.subscriptions: set[str] = set()
        self.log_level: str = "info"
        lowlevel = self._lowlevel_server
        lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, self._unsubscribe)
        lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)

    async def list_tools(self) -> list[types.Tool]:
        # MCPServer derives input schemas from signatures; this tool must show 2020-12 keywords verbatim.
        return [t.model_copy(update={"input_schema": SCHEMA_2020_12}) if t.name == "json_schema_2020_12_tool"
                else t for t in await super().list_tools()]

    async def _subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        self.subscriptions.add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        self.subscriptions.discard(str(params.uri))
        return types.EmptyResult()

    async def _set_level(self, ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        self.log_level = params.level
        return types.EmptyResult()


server = FixtureServer()


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


# ---- tools -------------------------------------------------------------------------------------------

@server.tool(description="Returns one text block.")
def test_simple_text() -> list[types.ContentBlock]:
    return [_text("This is a simple text response for testing.")]


@server.tool(description="Returns a PNG image block.")
def test_image_content() -> list[types.ContentBlock]:
    return [types.ImageContent(type="image", data=PNG_B64, mime_type="image/png")]


@server.tool(description="Returns a WAV audio block.")
def test_audio_content() -> list[types.ContentBlock]:
    return [types.AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")]


@server.tool(description="Returns an embedded text resource.")
def test_embedded_resource() -> list[types.ContentBlock]:
    resource = types.TextResourceContents(uri="test://embedded-resource", mime_type="text/plain",
                                          text="This is an embedded resource content.")
    return [types.EmbeddedResource(type="resource", resource=resource)]


@server.tool(description="Returns text, image and resource blocks together.")
def test_multiple_content_types() -> list[types.ContentBlock]:
    resource = types.TextResourceContents(uri="test://mixed-content-resource", mime_type="application/json",
                                          text=json.dumps({"test": "data", "value": 123}))
    return [
        _text("Multiple content types test:"),
        types.ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
        types.EmbeddedResource(type="resource", resource=resource),
    ]


@server.tool(description="Sends three info log notifications while it runs.")
async def test_tool_with_logging(ctx: Context) -> str:
    for index, text in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
        if index:
            await asyncio.sleep(0.05)
        await ctx.info(text)
    return "Tool with logging executed successfully"


@server.tool(description="Reports progress 0, 50 and 100 of 100.")
async def test_tool_with_progress(ctx: Context) -> str:
    for index, value in enumerate((0, 50, 100)):
        if index:
            await asyncio.sleep(0.05)
        await ctx.report_progress(value, 100, f"{value}% done")
    return "Tool with progress executed successfully"


@server.tool(description="Always fails, so the result carries isError.")
def test_error_handling() -> str:
    raise RuntimeError("This tool intentionally returns an error for testing")


@server.tool(description="Asks the client's LLM (sampling/createMessage) to answer the prompt.")
async def test_sampling(prompt: str, ctx: Context) -> str:
    message = types.SamplingMessage(role="user", content=_text(prompt))
    result = await ctx.session.create_message([message], max_tokens=100, related_request_id=ctx.request_id)
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else str(content)
    return f"LLM response: {text}"


@server.tool(description="Asks the user (elicitation/create) for a username and an email address.")
async def test_elicitation(message: str, ctx: Context) -> str:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    return f"User response: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Elicitation whose schema has a default for every primitive type (SEP-1034).")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Your name", "default": "John Doe"},
            "age": {"type": "integer", "description": "Your age", "default": 30},
            "score": {"type": "number", "description": "Your score", "default": 95.5},
            "status": {"type": "string", "description": "Your status", "enum": ["active", "inactive", "pending"],
                       "default": "active"},
            "verified": {"type": "boolean", "description": "Verified?", "default": True},
        },
    }
    result = await ctx.session.elicit_form("Please review your details", schema,
                                           related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Elicitation with the five enum shapes of SEP-1330.")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ]},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                           "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"},
                {"const": "value2", "title": "Second Choice"},
                {"const": "value3", "title": "Third Choice"},
            ]}},
        },
    }
    result = await ctx.session.elicit_form("Pick some options", schema, related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Closes its SSE stream mid-call; the client resumes with GET + Last-Event-ID.")
async def test_reconnection(ctx: Context) -> str:
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)  # the result must be produced after the stream is gone, to be replayed
    return "Reconnection test completed"


@server.tool(description="Tool with JSON Schema 2020-12 features")
def json_schema_2020_12_tool(name: str | None = None, address: dict[str, Any] | None = None) -> str:
    return f"name={name}, address={json.dumps(address)}"


# ---- resources ---------------------------------------------------------------------------------------

@server.resource("test://static-text", name="static-text", description="A static text resource",
                 mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource("test://static-binary", name="static-binary", description="A static PNG resource",
                 mime_type="image/png")
def static_binary() -> bytes:
    return RED_PIXEL_PNG


@server.resource("test://template/{id}/data", name="template-data", description="Data for an id",
                 mime_type="application/json")
def template_data(id: str) -> str:  # the parameter name is the template variable the scenario uses
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@server.resource("test://watched-resource", name="watched-resource", description="A subscribable resource",
                 mime_type="text/plain")
def watched_resource() -> str:
    return "This resource can be watched for updates."


# ---- prompts -----------------------------------------------------------------------------------------

@server.prompt(description="A prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@server.prompt(description="A prompt with two required arguments")
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.prompt(description="A prompt that embeds a resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # argument name: scenario
    resource = types.TextResourceContents(uri=resourceUri, mime_type="text/plain",
                                          text="Embedded resource content for testing.")
    return [UserMessage(types.EmbeddedResource(type="resource", resource=resource)),
            UserMessage("Please process the embedded resource above.")]


@server.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[UserMessage]:
    return [UserMessage(types.ImageContent(type="image", data=PNG_B64, mime_type="image/png")),
            UserMessage("Please analyze the image above.")]


@server.completion()
async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion:
    if isinstance(ref, types.PromptReference) and ref.name == "test_prompt_with_arguments":
        words = ["paris", "park", "party", "test", "testing", "tested"]
        values = [w for w in words if w.startswith(argument.value)]
        return types.Completion(values=values, total=len(values), has_more=False)
    return types.Completion(values=[], total=0, has_more=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=3101)
    parser.add_argument("--transport", choices=["streamable-http", "stdio"], default="streamable-http")
    args = parser.parse_args(argv)
    if args.transport == "stdio":
        server.run("stdio")
        return
    server.run("streamable-http", host="127.0.0.1", port=args.port, streamable_http_path="/mcp",
               event_store=MemoryEventStore(), retry_interval=100)


if __name__ == "__main__":
    main()
