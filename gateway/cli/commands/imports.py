"""``mcp-gateway import FILE`` and ``mcp-gateway client-config``: to and from MCP clients' configurations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.applying import plan_changes, wait_for_changes
from gateway.cli.client_config import client_config
from gateway.cli.commands.resources import DEFAULT_TIMEOUT, execute_changes
from gateway.cli.errors import CliError, ExitCode
from gateway.cli.importer import CLIENT_FORMATS, ImportPlan, Variables, detect_client, plan_import
from gateway.cli.manifests import Change
from gateway.cli.output import Column, dump_json, echo, table
from gateway.cli.session import Session, current_session, global_options
from gateway.cli.targets import ROUTER_PATH, resolve_target
from gateway.cli.views import source, transport
from gateway.cli.wait import Progress


@click.command("import", help="""Create adapters from an MCP client's configuration: VS Code
(.vscode/mcp.json), Claude Desktop (claude_desktop_config.json) or Cursor (mcp.json). Shows the plan
first; entries that cannot run behind the gateway are listed with the reason. Adapters that exist are
updated, so importing again changes nothing.

\b
Examples:
  mcp-gateway import .vscode/mcp.json --dry-run
  mcp-gateway import ~/.config/Claude/claude_desktop_config.json --yes --wait
  mcp-gateway import ~/.cursor/mcp.json --required-role mcp.engineer --yes
""")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--client", type=click.Choice(CLIENT_FORMATS), help="Whose file it is (default: detected).")
@click.option("--required-role", "required_roles", multiple=True, metavar="ROLE",
              help="Give the adapters this required role (repeat); default: only you and admins.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--wait", is_flag=True, help="Wait until the adapters are Ready.")
@click.option("--timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT, show_default=True)
def import_command(path: Path, client: str | None, required_roles: tuple[str, ...], dry_run: bool, yes: bool,
                   wait: bool, timeout: float) -> None:
    session = current_session()
    if session.output != "table" and not (dry_run or yes):
        raise CliError(f"-o {session.output} needs --dry-run or --yes: there is nobody to ask", ExitCode.USAGE)
    plan = _read_plan(path, client, list(required_roles))
    changes = plan_changes(session.client(), "adapters", [adapter.body for adapter in plan.adapters])
    if session.output == "table":
        _show_plan(session, path, plan, changes)
    if not dry_run and any(change.action != "unchanged" for change in changes):
        if not yes and not _confirmed():
            raise CliError("nothing imported: pass --yes to apply (or --dry-run to only show the plan)",
                           ExitCode.USAGE)
        done = execute_changes(session, changes, dry_run=False)
        if wait:
            wait_for_changes(session.client(), done, timeout, Progress.on_stderr(session.stderr_colour))
    if session.output != "table":
        _emit_plan_document(session, plan, changes, applied=not dry_run)


def _read_plan(path: Path, client: str | None, required_roles: list[str]) -> ImportPlan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not JSON: {exc}", ExitCode.USAGE) from None
    detected = client or detect_client(document, path)
    if detected is None:
        raise CliError(
            f"{path} is not an MCP client configuration: expected \"servers\" (VS Code) or \"mcpServers\" "
            "(Claude Desktop, Cursor)",
            ExitCode.USAGE,
        )
    return plan_import(document, detected, Variables.for_file(path), path.name, required_roles)  # type: ignore[arg-type]


def _show_plan(session: Session, path: Path, plan: ImportPlan, changes: list[Change]) -> None:
    echo(f"Import plan for {path} ({plan.client}):")
    actions = {change.name: change for change in changes}
    rows = [{"adapter": adapter, "change": actions[adapter.name]} for adapter in plan.adapters]
    columns = [
        Column("NAME", lambda r: r["adapter"].name),
        Column("FROM", lambda r: r["adapter"].label),
        Column("ACTION", lambda r: _action(r["change"])),
        Column("TRANSPORT", lambda r: transport(r["adapter"].body)),
        Column("SOURCE", lambda r: source(r["adapter"].body), wide=True),
    ]
    echo(table(rows, columns, colour=session.colour))
    for adapter in plan.adapters:
        for note in adapter.notes:
            echo(f"  note: {adapter.label}: {note}")
    for skipped in plan.skipped:
        echo(f"  skipped: {skipped.label}: {skipped.reason}")


def _action(change: Change) -> str:
    return change.action + (f" ({', '.join(change.fields)})" if change.fields else "")


def _emit_plan_document(session: Session, plan: ImportPlan, changes: list[Change], applied: bool) -> None:
    document: dict[str, Any] = {
        "client": plan.client,
        "adapters": [
            {"name": a.name, "from": a.label, "action": c.action, "fields": c.fields, "notes": a.notes, "body": a.body}
            for a, c in zip(plan.adapters, changes, strict=True)
        ],
        "skipped": [{"from": s.label, "reason": s.reason} for s in plan.skipped],
        "applied": applied,
    }
    session.emit(document, lambda: "")


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        return False
    return click.confirm("Apply this plan?", default=False, err=True)


@click.command("client-config", help="""Print an MCP client's configuration for the gateway's endpoints
(default: the tool router, /mcp). Claude Desktop starts stdio servers only, so its entries run
npx mcp-remote. Development identities (--user, --roles) become headers. TARGET: NAME (an adapter),
servers/NAME, /mcp or a URL.

\b
Examples:
  mcp-gateway client-config > .vscode/mcp.json
  mcp-gateway client-config --format claude mcp-example servers/everyday
  mcp-gateway client-config --format cursor /mcp --user alice
""")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("--format", "client", type=click.Choice(CLIENT_FORMATS), default="vscode", show_default=True)
def client_config_command(targets: tuple[str, ...], client: str) -> None:
    connection = current_session().connection()
    resolved = [resolve_target(target, connection.gateway) for target in targets or (ROUTER_PATH,)]
    echo(dump_json(client_config(client, resolved, connection.dev_headers())))


for _command in (import_command, client_config_command):
    global_options(_command)
