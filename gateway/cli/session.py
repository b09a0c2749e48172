"""What one invocation shares: the global options, the configuration file, the gateway client, the output."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from gateway.cli.config import CliConfig, load_config
from gateway.cli.connection import Connection, resolve_connection
from gateway.cli.http import GatewayClient
from gateway.cli.output import FORMATS, Format, colour_enabled, dump, echo


@dataclass
class Session:
    gateway: str | None = None
    context: str | None = None
    user: str | None = None
    roles: str | None = None
    output: Format = "table"
    no_color: bool = False
    _config: CliConfig | None = None
    _client: GatewayClient | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def config(self) -> CliConfig:
        if self._config is None:
            self._config = load_config()
        return self._config

    def connection(self) -> Connection:
        return resolve_connection(
            self.config, gateway=self.gateway, context=self.context, user=self.user, roles=self.roles
        )

    def client(self) -> GatewayClient:
        if self._client is None:
            self._client = GatewayClient(self.connection())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def colour(self) -> bool:
        return colour_enabled(sys.stdout, self.no_color)

    @property
    def stderr_colour(self) -> bool:
        return colour_enabled(sys.stderr, self.no_color)

    def emit(self, data: Any, human: Callable[[], str]) -> None:
        """``data`` as JSON or YAML, or ``human()`` for a table or a message."""
        echo(human() if self.output == "table" else dump(data, self.output))


def current_session() -> Session:
    return click.get_current_context().ensure_object(Session)


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Global options may come before the command or after it (``mcp-gateway adapters list -o json``)."""
    if value is not None and value is not False and param.name is not None:
        setattr(ctx.ensure_object(Session), param.name, value)
    return value


def _global_options() -> list[click.Option]:
    # New objects for every command: a click parameter belongs to one command.
    return [
        click.Option(["--gateway"], metavar="URL", expose_value=False, callback=_store,
                     help="Gateway base URL (else MCPGW_URL, else the context's, else http://127.0.0.1:8000)."),
        click.Option(["--context"], metavar="NAME", expose_value=False, callback=_store,
                     help="Use this context of the configuration file (else MCPGW_CONTEXT, else the current one)."),
        click.Option(["--user"], metavar="ID", expose_value=False, callback=_store,
                     help="Development identity: X-Dev-UserId (gateways in dev mode only)."),
        click.Option(["--roles"], metavar="ROLES", expose_value=False, callback=_store,
                     help="Development roles, comma-separated: X-Dev-Roles."),
        click.Option(["-o", "--output"], type=click.Choice(FORMATS), expose_value=False, callback=_store,
                     help="table (default, for people), json or yaml (exact and stable, for scripts)."),
        click.Option(["--no-color"], is_flag=True, default=False, expose_value=False, callback=_store,
                     help="No colour even on a terminal (NO_COLOR=1 does the same)."),
    ]


def global_options(command: click.Command) -> click.Command:
    """Add the global options to ``command`` too, so they can follow the command's name."""
    command.params.extend(_global_options())
    return command
