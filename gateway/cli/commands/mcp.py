"""``mcp-gateway call`` and ``tools-of``: a quick MCP client through the gateway."""

from __future__ import annotations

import click

from gateway.cli import mcp_calls
from gateway.cli.errors import CliError, ExitCode
from gateway.cli.http import GatewayClient
from gateway.cli.output import Column, table
from gateway.cli.session import current_session, global_options
from gateway.cli.targets import resolve_target

TARGET_HELP = "TARGET: NAME or adapters/NAME (an adapter), servers/NAME (a virtual server), /mcp (the tool router)."
_protocol = click.option(
    "--protocol", type=click.Choice(mcp_calls.PROTOCOLS), default="auto", show_default=True,
    help="MCP era: 2025-11-25 (initialize and a session), 2026-07-28 (stateless), auto (the SDK negotiates).",
)


@click.command("call", help=f"""Call a tool through the gateway with the official MCP SDK client.
{TARGET_HELP} A --arg value is JSON when it parses (2, true, [1]) unless the tool's schema says string.

\b
Examples:
  mcp-gateway call mcp-example add --arg a=2 --arg b=40
  mcp-gateway call /mcp weather --arg location='Seattle, WA' --protocol 2026-07-28
  mcp-gateway call servers/everyday sum --json '{{"a": 1, "b": 2}}' -o json
""")
@click.argument("target")
@click.argument("tool")
@click.option("--arg", "pairs", multiple=True, metavar="KEY=VALUE", help="An argument (repeat).")
@click.option("--json", "json_text", metavar="OBJECT", help="Arguments as a JSON object (--arg wins).")
@_protocol
def call(target: str, tool: str, pairs: tuple[str, ...], json_text: str | None, protocol: str) -> None:
    session = current_session()
    client = session.client()
    url = _checked_url(client, target)
    result = mcp_calls.call_tool(url, client.identity_headers(), protocol, tool, pairs, json_text)
    session.emit(result, lambda: mcp_calls.result_text(result))
    if result.get("isError"):
        raise CliError(f"the tool {tool} reported an error", ExitCode.FAILED)


@click.command("tools-of", help=f"""List the tools of an MCP endpoint of the gateway. {TARGET_HELP}

\b
Examples:
  mcp-gateway tools-of mcp-example
  mcp-gateway tools-of /mcp --protocol 2026-07-28 -o json
""")
@click.argument("target")
@_protocol
def tools_of(target: str, protocol: str) -> None:
    session = current_session()
    client = session.client()
    url = _checked_url(client, target)
    tools = mcp_calls.tools_of(url, client.identity_headers(), protocol)
    columns = [
        Column("TOOL", lambda t: t["name"]),
        Column("TITLE", lambda t: t.get("title")),
        Column("DESCRIPTION", lambda t: (t.get("description") or "").strip().split("\n")[0], wide=True),
    ]
    session.emit(tools, lambda: table(tools, columns, colour=session.colour))


def _checked_url(client: GatewayClient, target: str) -> str:
    """The target's MCP URL, once the REST API has said the adapter or server exists and may be used: its
    answer has the status and the words (an MCP error has neither the 404 nor the 403)."""
    resolved = resolve_target(target, client.connection.gateway)
    if resolved.resource is not None:
        client.request("GET", resolved.resource)
    return resolved.url


for _command in (call, tools_of):
    global_options(_command)
