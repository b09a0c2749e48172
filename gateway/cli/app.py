"""The ``mcp-gateway`` command: its groups, its global options, and how a failure becomes an exit code."""

from __future__ import annotations

import os
import sys

import click

from gateway import __version__
from gateway.cli.commands import auth, contexts, imports, mcp, resources
from gateway.cli.commands.completion import COMPLETE_VARIABLE, completion
from gateway.cli.errors import CliError, ExitCode
from gateway.cli.session import Session, global_options

EPILOG = """\b
Exit codes: 0 ok; 1 the gateway refused or failed, a tool call failed, or --wait saw it fail;
2 usage or configuration; 3 not found; 4 authentication or permission; 5 conflict (the name is taken or
the resource changed meanwhile); 6 the gateway cannot be reached; 124 --wait timed out.
Docs: docs/cli.md."""


@click.group(
    "mcp-gateway",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    help="""Run the MCP gateway (serve) and manage it: adapters, tools, virtual servers, MCP calls.

\b
Examples:
  mcp-gateway serve --port 8000
  mcp-gateway adapters create calc --transport streamable-http --wait -- python3 server.py
  mcp-gateway adapters list
  mcp-gateway call calc add --arg a=2 --arg b=40
""",
)
@click.version_option(__version__, "--version", prog_name="mcp-gateway", message="%(prog)s %(version)s")
def cli() -> None:
    """The group itself does nothing: the global options store themselves in the session."""


global_options(cli)
for _kind in ("adapters", "tools", "servers"):
    cli.add_command(resources.make_group(_kind))
for _command in (contexts.group, auth.login, auth.logout, imports.import_command, imports.client_config_command,
                 mcp.call, mcp.tools_of, completion):
    cli.add_command(_command)


@cli.command("serve", add_help_option=False,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="Run the gateway (mcp-gateway serve --help for its options).")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def serve_command(arguments: tuple[str, ...]) -> None:
    # Reached only when global options come first (mcp-gateway --no-color serve): gateway.__main__ sends a
    # plain "mcp-gateway serve ..." straight to the server without loading the CLI. The server is started
    # afresh rather than imported: the CLI never imports the gateway's application (pyproject.toml).
    os.execv(sys.executable, [sys.executable, "-m", "gateway", "serve", *arguments])


def run(argv: list[str]) -> int:
    """Run the CLI on ``argv``; the exit code (see :class:`gateway.cli.errors.ExitCode`)."""
    session = Session()
    try:
        cli.main(args=argv, prog_name="mcp-gateway", obj=session, standalone_mode=False,
                 complete_var=COMPLETE_VARIABLE)
    except CliError as exc:
        _error(exc.message)
        return exc.code
    except click.exceptions.Abort:
        _error("aborted")
        return ExitCode.FAILED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        session.close()
    return ExitCode.OK


def _error(message: str) -> None:
    sys.stderr.write(f"mcp-gateway: {' '.join(message.split())}\n")
    sys.stderr.flush()
