"""``mcp-gateway login`` and ``logout``."""

from __future__ import annotations

import sys

import click
import httpx

from gateway.cli.errors import CliError, ExitCode
from gateway.cli.http import USER_AGENT
from gateway.cli.login import default_client_id, device_login, discover, requested_scopes
from gateway.cli.output import echo
from gateway.cli.session import current_session, global_options
from gateway.cli.tokens import claims_for_display, forget_token, save_token, token_path


@click.command("login", help="""Sign in to a gateway with token authentication (Entra ID or OIDC): the
device-code flow. The token is cached per gateway (0600, in the configuration directory) and refreshed
when it expires.

\b
Examples:
  mcp-gateway login --gateway https://gateway.example.com
  mcp-gateway login --client-id 11111111-2222-3333-4444-555555555555
""")
@click.option("--client-id", help="OAuth public client id (else the context's; Entra: the Azure CLI's).")
@click.option("--scope", "scopes", multiple=True, help="Scope to ask for (repeat); default: the gateway's.")
def login(client_id: str | None, scopes: tuple[str, ...]) -> None:
    session = current_session()
    connection = session.connection()
    with httpx.Client(timeout=30, headers={"User-Agent": USER_AGENT}) as http:
        issuer = discover(connection.gateway, http)
        chosen = client_id or connection.client_id or default_client_id(issuer.issuer)
        if chosen is None:
            raise CliError(
                f"the issuer {issuer.issuer} needs a client id: mcp-gateway login --client-id ID "
                "(or mcp-gateway context set NAME --client-id ID)",
                ExitCode.USAGE,
            )
        scope = requested_scopes(issuer, scopes or connection.scopes)
        token = device_login(connection.gateway, issuer, chosen, scope, http, lambda line: echo(line, sys.stderr))
    path = save_token(token)
    claims = claims_for_display(token.access_token)
    who = claims.get("preferred_username") or claims.get("upn") or claims.get("oid") or claims.get("sub") or "?"
    echo(f"logged in to {connection.gateway} as {who} (token cached in {path})")


@click.command("logout", help="""Forget the cached token of a gateway.

\b
Examples:
  mcp-gateway logout
  mcp-gateway logout --gateway https://gateway.example.com
""")
def logout() -> None:
    gateway = current_session().connection().gateway
    if forget_token(gateway):
        echo(f"logged out of {gateway} (removed {token_path(gateway)})")
    else:
        echo(f"not logged in to {gateway}")


for _command in (login, logout):
    global_options(_command)
