"""What an adapter sends besides its answers reaches the virtual server's client (issue #19, relays).

Real router in process, a real MCP server written for these tests as the adapter (MCPServer on a loopback
thread, handshake era: its server-to-client requests and notifications ride the session's streams), and
the real SDK client with real callbacks: progress, logging, elicitation, sampling, roots, and a tool list
that changes under the client (``notifications/tools/list_changed`` merged into the server's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from pydantic import BaseModel
from router_harness import Adapter, RouterUnderTest, gateway_headers, handshake_era_only, recording, threaded

from tests.support.asgi import StreamingASGITransport2
from tests.support.waiting import async_wait_for

# The adapter logs and asks for roots, both deprecated as of 2026-07-28 and both still what clients relay.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


class Name(BaseModel):
    name: str


async def name_of_the_user() -> Elicit[Name]:
    """A resolver (module level: the tool's annotations are evaluated against this module)."""
    return Elicit("Who are you?", Name)


def chatty_app() -> Any:
    """An adapter that talks during its calls: progress, log lines, questions to the user and the model."""
    app = MCPServer(name="Chatty", version="1.0.0", log_level="WARNING")

    @app.tool(description="Counts to n, reporting progress and logging each step")
    async def count(n: int, ctx: Context) -> str:
        for i in range(1, n + 1):
            await ctx.report_progress(i, n, f"step {i}")
            await ctx.info(f"counted {i}")
        return f"counted to {n}"

    @app.tool(description="Asks the user for their name")
    async def ask_name(ctx: Context) -> str:
        answer = await ctx.elicit("What is your name?", Name)
        return f"hello {answer.data.name}" if answer.action == "accept" and answer.data else f"no: {answer.action}"

    @app.tool(description="Greets the user, asking their name first (in either era)")
    async def greet(user: Annotated[Name, Resolve(name_of_the_user)]) -> str:
        return f"welcome {user.name}"

    @app.tool(description="Asks the client's model for a haiku")
    async def haiku(topic: str, ctx: Context) -> str:
        message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"a haiku: {topic}"))
        result = await ctx.session.create_message(
            messages=[message], max_tokens=50, related_request_id=ctx.request_id
        )
        content = result.content
        return content.text if isinstance(content, types.TextContent) else "?"

    @app.tool(description="The client's roots")
    async def roots(ctx: Context) -> list[str]:
        listed = await ctx.session.list_roots()
        return [str(root.uri) for root in listed.roots]

    @app.tool(description="What the client declared to this server")
    async def capabilities(ctx: Context) -> dict[str, Any]:
        declared = ctx.client_capabilities
        return declared.model_dump(exclude_none=True) if declared else {}

    @app.tool(description="Adds a tool and says so")
    async def grow(ctx: Context) -> str:
        if "sprout" not in {t.name for t in await app.list_tools()}:
            app.add_tool(lambda: "new", name="sprout", description="Appeared later")
        await ctx.session.send_tool_list_changed()
        return "grown"

    return app.streamable_http_app(host="127.0.0.1")


@pytest.fixture(scope="module")
def chatty_adapter() -> Iterator[Adapter]:
    received: list[dict[str, str]] = []
    # The handshake era: where adapters send server-to-client requests (2026-07-28 has InputRequiredResult).
    with threaded(recording(handshake_era_only(chatty_app()), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


@pytest.fixture(scope="module")
def modern_chatty_adapter() -> Iterator[Adapter]:
    """The same adapter speaking both eras (the router then talks 2026-07-28 to it)."""
    received: list[dict[str, str]] = []
    with threaded(recording(chatty_app(), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


@pytest.fixture
async def chatty_server(router: RouterUnderTest, chatty_adapter: Adapter) -> str:
    router.catalog.put_adapter("chatty", [chatty_adapter.url])
    router.catalog.put_server("talk", [{"adapter": "chatty"}])
    await router.synced()
    return "talk"


class Heard:
    """What the client's callbacks received."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.logs: list[Any] = []
        self.notifications: list[str] = []
        self.questions: list[str] = []

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.data)

    async def on_message(self, message: IncomingMessage) -> None:
        if not isinstance(message, Exception):
            self.notifications.append(message.method)

    async def on_elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        assert isinstance(params, types.ElicitRequestFormParams)
        self.questions.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        asked = params.messages[0].content
        self.questions.append(asked.text if isinstance(asked, types.TextContent) else "?")
        reply = types.TextContent(type="text", text="old pond / a frog jumps in")
        return types.CreateMessageResult(role="assistant", content=reply, model="test-model")

    async def on_roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])


@asynccontextmanager
async def talking_client(
    router: RouterUnderTest,
    server: str | None,
    heard: Heard,
    *,
    user: str = "alice",
    roles: list[str] | None = None,
    capable: bool = True,
    mode: str = "legacy",
) -> AsyncIterator[Client]:
    """The SDK client as a chat application uses it: callbacks for everything an adapter may ask."""
    callbacks: dict[str, Any] = {}
    if capable:
        callbacks = {
            "elicitation_callback": heard.on_elicit,
            "sampling_callback": heard.on_sampling,
            "list_roots_callback": heard.on_roots,
        }
    http = httpx2.AsyncClient(
        transport=StreamingASGITransport2(router.app),
        headers=gateway_headers(user, roles, server=server),
        timeout=httpx2.Timeout(30, read=60),
    )
    async with http:
        transport = streamable_http_client(router.mcp_url, http_client=http)
        async with Client(
            transport,  # type: ignore[arg-type]
            mode=mode,
            message_handler=heard.on_message,
            logging_callback=heard.on_log,
            **callbacks,
        ) as client:
            yield client


async def test_progress_and_log_lines_of_a_call_reach_the_caller(router: RouterUnderTest, chatty_server: str) -> None:
    heard = Heard()
    async with talking_client(router, chatty_server, heard) as client:
        result = await client.call_tool("chatty__count", {"n": 3}, progress_callback=heard.on_progress)
    assert not result.is_error and result.content[0].text == "counted to 3"  # type: ignore[union-attr]
    assert heard.progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert heard.logs == ["counted 1", "counted 2", "counted 3"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_progress_reaches_the_caller_in_either_era_from_an_adapter_of_either_era(
    router: RouterUnderTest, modern_chatty_adapter: Adapter, mode: str
) -> None:
    router.catalog.put_adapter("chatty", [modern_chatty_adapter.url])
    router.catalog.put_server("talk", [{"adapter": "chatty"}])
    await router.synced()
    heard = Heard()
    async with talking_client(router, "talk", heard, mode=mode) as client:
        result = await client.call_tool("chatty__count", {"n": 2}, progress_callback=heard.on_progress)
    assert not result.is_error
    assert heard.progress == [(1, 2, "step 1"), (2, 2, "step 2")]


async def test_no_progress_is_sent_to_a_caller_that_did_not_ask(router: RouterUnderTest, chatty_server: str) -> None:
    heard = Heard()
    async with talking_client(router, chatty_server, heard) as client:
        result = await client.call_tool("chatty__count", {"n": 2})
    assert not result.is_error
    assert "notifications/progress" not in heard.notifications


async def test_an_elicitation_is_asked_of_the_caller_and_the_answer_goes_back(
    router: RouterUnderTest, chatty_server: str
) -> None:
    heard = Heard()
    async with talking_client(router, chatty_server, heard) as client:
        result = await client.call_tool("chatty__ask_name", {})
    assert heard.questions == ["What is your name?"]
    assert not result.is_error and result.content[0].text == "hello Ada"  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "adapter"), [("legacy", "chatty_adapter"), ("auto", "modern_chatty_adapter")])
async def test_a_question_asked_in_either_era_reaches_the_caller_and_the_answer_the_tool(
    router: RouterUnderTest, request: pytest.FixtureRequest, mode: str, adapter: str
) -> None:
    """Session era: the adapter asks mid-call (elicitation/create, relayed). 2026-07-28: the adapter answers
    InputRequiredResult, which goes back to the client as it is, and the client's retry (inputResponses,
    requestState) goes back to the adapter; the SDK client does both rounds on its own."""
    upstream: Adapter = request.getfixturevalue(adapter)
    router.catalog.put_adapter("chatty", [upstream.url])
    router.catalog.put_server("talk", [{"adapter": "chatty"}], tool_search="beside")
    await router.synced()
    heard = Heard()
    async with talking_client(router, "talk", heard, mode=mode) as client:
        direct = await client.call_tool("chatty__greet", {})
        through_meta = await client.call_tool("call_tool", {"name": "chatty__greet", "arguments": {}})
    assert heard.questions == ["Who are you?", "Who are you?"]
    assert not direct.is_error and direct.content[0].text == "welcome Ada"  # type: ignore[union-attr]
    assert not through_meta.is_error and through_meta.content[0].text == "welcome Ada"  # type: ignore[union-attr]


async def test_sampling_and_roots_are_asked_of_the_caller(router: RouterUnderTest, chatty_server: str) -> None:
    heard = Heard()
    async with talking_client(router, chatty_server, heard) as client:
        poem = await client.call_tool("chatty__haiku", {"topic": "frogs"})
        roots = await client.call_tool("chatty__roots", {})
    assert heard.questions == ["a haiku: frogs"]
    assert poem.content[0].text == "old pond / a frog jumps in"  # type: ignore[union-attr]
    assert roots.structured_content == {"result": ["file:///work/project"]}


async def test_the_adapter_sees_exactly_the_capabilities_the_caller_declared(
    router: RouterUnderTest, chatty_server: str
) -> None:
    able, unable = Heard(), Heard()
    async with talking_client(router, chatty_server, able) as client:
        declared = (await client.call_tool("chatty__capabilities", {})).structured_content
    async with talking_client(router, chatty_server, unable, capable=False) as client:
        plain = (await client.call_tool("chatty__capabilities", {})).structured_content
        refused = await client.call_tool("chatty__ask_name", {})
    assert declared is not None and {"sampling", "elicitation", "roots"} <= set(declared)
    assert plain is not None and not {"sampling", "elicitation", "roots"} & set(plain)
    # The adapter was never told it could ask, so its question fails there, not at a client that can't answer.
    assert refused.is_error and unable.questions == []


async def test_a_members_list_change_reaches_the_servers_clients_once(
    router: RouterUnderTest, chatty_server: str, issues_adapter: Adapter
) -> None:
    router.catalog.put_adapter("issues", [issues_adapter.url])
    router.catalog.put_server("other", [{"adapter": "issues"}])
    await router.synced()
    heard, elsewhere = Heard(), Heard()
    async with (
        talking_client(router, chatty_server, heard) as client,
        talking_client(router, "other", elsewhere) as bystander,
    ):
        before = {t.name for t in (await client.list_tools()).tools}
        await bystander.list_tools()
        await client.call_tool("chatty__grow", {})
        await async_wait_for(lambda: "notifications/tools/list_changed" in heard.notifications, timeout=10)
        after = {t.name for t in (await client.list_tools()).tools}
        await anyio.sleep(0.5)  # any duplicate would have arrived by now (the router settles for 0.2 s)
    assert "chatty__sprout" not in before or "chatty__sprout" in after
    assert "chatty__sprout" in after  # the cached list was dropped, not served stale for 30 s
    assert heard.notifications.count("notifications/tools/list_changed") == 1
    # A server without that adapter is not told.
    assert "notifications/tools/list_changed" not in elsewhere.notifications


async def test_on_mcp_only_callers_who_may_read_the_adapter_hear_that_it_changed(
    router: RouterUnderTest, chatty_adapter: Adapter
) -> None:
    """/mcp aggregates every adapter: an adapter's list_changed reaches the /mcp sessions of those who may read
    it, and tells the others nothing (not even that it changed)."""
    router.catalog.put_adapter("chatty", [chatty_adapter.url], created_by="olga", required_roles=["mcp.chatty"])
    await router.synced()
    reader, outsider = Heard(), Heard()
    async with (
        talking_client(router, None, reader, user="alice", roles=["mcp.chatty"]) as client,
        talking_client(router, None, outsider, user="bob", roles=["mcp.user"]) as other,
    ):
        await other.list_tools()
        assert not (await client.call_tool("chatty__grow", {})).is_error
        await async_wait_for(lambda: "notifications/tools/list_changed" in reader.notifications, timeout=10)
        await anyio.sleep(0.5)
    assert "notifications/tools/list_changed" not in outsider.notifications
