"""``mcp-gateway context list|show|use|set|delete``: named gateways in the configuration file."""

from __future__ import annotations

import click

from gateway.cli.config import Context, config_path, save_config
from gateway.cli.connection import normalise_gateway_url
from gateway.cli.errors import CliError, ExitCode
from gateway.cli.output import Column, details, echo, table
from gateway.cli.session import current_session, global_options
from gateway.cli.tokens import load_token

group = click.Group("context", help=f"""Named gateways and identities, kept in {config_path()}.

\b
Examples:
  mcp-gateway context set local --gateway http://127.0.0.1:8000 --user alice --roles mcp.admin --use
  mcp-gateway context set prod --gateway https://gateway.example.com --client-id CLIENT_ID
  mcp-gateway context use prod
  mcp-gateway context list
""")


def _complete_contexts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        return [name for name in current_session().config.contexts if name.startswith(incomplete)]
    except CliError:
        return []


@group.command("list", help="""The contexts; * marks the current one.

\b
Examples:
  mcp-gateway context list
  mcp-gateway context list -o yaml
""")
def list_contexts() -> None:
    session = current_session()
    config = session.config
    rows = [{"name": name, **context.to_document(), "current": name == config.current}
            for name, context in sorted(config.contexts.items())]
    columns = [
        Column("CURRENT", lambda r: "*" if r["current"] else ""),
        Column("NAME", lambda r: r["name"]),
        Column("GATEWAY", lambda r: r.get("gateway")),
        Column("USER", lambda r: r.get("user")),
        Column("ROLES", lambda r: r.get("roles")),
        Column("CLIENT ID", lambda r: r.get("clientId")),
    ]
    session.emit(config.to_document(), lambda: table(rows, columns, colour=session.colour))


@group.command("show", help="""The gateway and the identity commands use now.

\b
Examples:
  mcp-gateway context show
  MCPGW_URL=http://127.0.0.1:8080 mcp-gateway context show -o json
""")
def show_context() -> None:
    session = current_session()
    connection = session.connection()
    token = load_token(connection.gateway)
    document = {
        "gateway": connection.gateway,
        "context": connection.context,
        "user": connection.user,
        "roles": list(connection.roles),
        "loggedIn": token is not None,
    }
    identity = "token from mcp-gateway login" if token else (
        f"development user {connection.user or 'dev (the gateway default)'}"
        + (f" with roles {','.join(connection.roles)}" if connection.roles else "")
    )
    session.emit(document, lambda: details(
        [("Gateway", connection.gateway), ("Context", connection.context), ("Identity", identity)],
        colour=session.colour,
    ))


@group.command("use", help="""Make NAME the current context.

\b
Examples:
  mcp-gateway context use prod
""")
@click.argument("name", shell_complete=_complete_contexts)
def use_context(name: str) -> None:
    config = current_session().config
    if name not in config.contexts:
        raise CliError(f"no context named {name!r}: create it with mcp-gateway context set {name} --gateway URL",
                       ExitCode.USAGE)
    config.current = name
    save_config(config)
    echo(f"current context: {name}")


@group.command("set", help="""Create or change a context (only the options given change).

\b
Examples:
  mcp-gateway context set local --gateway http://127.0.0.1:8000 --user alice --roles mcp.admin --use
  mcp-gateway context set prod --gateway https://gateway.example.com --client-id CLIENT_ID
""")
@click.argument("name", shell_complete=_complete_contexts)
@click.option("--gateway", "url", metavar="URL", help="The gateway's base URL.")
@click.option("--user", help="Development identity (X-Dev-UserId).")
@click.option("--roles", help="Development roles, comma-separated.")
@click.option("--client-id", help="OAuth client id for mcp-gateway login.")
@click.option("--scope", "scopes", multiple=True, help="Scope to ask for at login (repeat); default: the gateway's.")
@click.option("--use", "make_current", is_flag=True, help="Also make it the current context.")
def set_context(name: str, url: str | None, user: str | None, roles: str | None, client_id: str | None,
                scopes: tuple[str, ...], make_current: bool) -> None:
    config = current_session().config
    context = config.contexts.setdefault(name, Context())
    if url is not None:
        context.gateway = normalise_gateway_url(url)
    if user is not None:
        context.user = user or None
    if roles is not None:
        context.roles = [role.strip() for role in roles.split(",") if role.strip()]
    if client_id is not None:
        context.client_id = client_id or None
    if scopes:
        context.scopes = list(scopes)
    if make_current or config.current is None:
        config.current = name
    path = save_config(config)
    echo(f"context {name} saved in {path}" + (" (current)" if config.current == name else ""))


@group.command("delete", help="""Remove a context.

\b
Examples:
  mcp-gateway context delete old
""")
@click.argument("name", shell_complete=_complete_contexts)
def delete_context(name: str) -> None:
    config = current_session().config
    if config.contexts.pop(name, None) is None:
        raise CliError(f"no context named {name!r}", ExitCode.NOT_FOUND)
    if config.current == name:
        config.current = None
    save_config(config)
    echo(f"context {name} deleted")


for _command in (list_contexts, show_context):
    global_options(_command)
