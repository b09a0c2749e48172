"""``mcp-gateway completion bash|zsh|fish``: the shell's completion script (click's), to source or install."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from gateway.cli.errors import CliError, ExitCode
from gateway.cli.output import echo

COMPLETE_VARIABLE = "_MCP_GATEWAY_COMPLETE"


@click.command("completion", help="""Print the shell completion script (commands, options, and adapter,
tool and server names from the gateway).

\b
Examples:
  source <(mcp-gateway completion bash)                       # bash, this shell; add it to ~/.bashrc
  mcp-gateway completion zsh > "${fpath[1]}/_mcp-gateway"      # zsh
  mcp-gateway completion fish > ~/.config/fish/completions/mcp-gateway.fish
""")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    completer = get_completion_class(shell)
    if completer is None:
        raise CliError(f"no completion for {shell}", ExitCode.USAGE)
    echo(completer(ctx.find_root().command, {}, "mcp-gateway", COMPLETE_VARIABLE).source().rstrip("\n"))
