"""``mcp-gateway adapters|tools|servers ...``: the REST API's resources, one group per kind."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from gateway.cli import views
from gateway.cli.applying import carry_out, describe_change, first_failure, plan_changes, wait_for_changes
from gateway.cli.bodies import ServerFlags, ToolFlags, WorkloadFlags, adapter_body, server_body, tool_body
from gateway.cli.errors import ApiError, CliError, ExitCode
from gateway.cli.http import GatewayClient, resource_path
from gateway.cli.manifests import Change, parse_documents, read_source
from gateway.cli.output import echo, table
from gateway.cli.session import Session, current_session, global_options
from gateway.cli.wait import Progress, wait_until_ready

WORKLOAD_KINDS = ("adapters", "tools")
DEFAULT_TIMEOUT = 120.0
STATUS_FETCHERS = 8


def singular(kind: str) -> str:
    return kind[:-1]


def a_(kind: str) -> str:
    """``an adapter``, ``a tool``, ``a server``."""
    word = singular(kind)
    return ("an " if word[0] in "aeiou" else "a ") + word


def complete_names(kind: str) -> Any:
    """Shell completion of NAME from the gateway's list (quietly nothing when it cannot be reached)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        try:
            session = ctx.find_object(Session) or Session()
            with GatewayClient(session.connection(), timeout=2) as client:
                items = client.json("GET", resource_path(kind))
        except Exception:
            return []
        return [item["name"] for item in items if str(item.get("name", "")).startswith(incomplete)]

    return complete


def wait_options(command: Any) -> Any:
    command = click.option(
        "--timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT, show_default=True,
        help="Seconds --wait waits before it gives up (exit code 124).",
    )(command)
    return click.option("--wait", is_flag=True, help="Wait until the workload is Ready (or fails: exit code 1).")(
        command
    )


def make_group(kind: str) -> click.Group:
    group = click.Group(kind, help=f"Manage {kind}: list, get, create, apply, delete"
                        + (", status, logs, restart." if kind in WORKLOAD_KINDS else "."))
    for command in (_list_command(kind), _get_command(kind), _create_command(kind), _apply_command(kind),
                    _delete_command(kind)):
        group.add_command(global_options(command))
    if kind in WORKLOAD_KINDS:
        for command in (_status_command(kind), _logs_command(kind), _restart_command(kind)):
            group.add_command(global_options(command))
    return group


# ----- list and get ----------------------------------------------------------------------------------------


def _list_command(kind: str) -> click.Command:
    @click.command("list", help=f"""List the {kind} you may read.

    \b
    Examples:
      mcp-gateway {kind} list
      mcp-gateway {kind} list -o json | jq -r '.[].name'
    """)
    def list_command() -> None:
        session = current_session()
        items: list[dict[str, Any]] = session.client().json("GET", resource_path(kind))
        session.emit(items, lambda: _list_table(session, kind, items))

    return list_command


def _list_table(session: Session, kind: str, items: list[dict[str, Any]]) -> str:
    if kind in WORKLOAD_KINDS:
        statuses = _statuses(session.client(), kind, [item["name"] for item in items])
        items = [{**item, "_status": status} for item, status in zip(items, statuses, strict=True)]
    return table(items, views.columns_for(kind), colour=session.colour)


def _statuses(client: GatewayClient, kind: str, names: list[str]) -> list[dict[str, Any] | None]:
    """Each workload's status, fetched a few at a time; None where the status cannot be read."""

    def fetch(name: str) -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = client.json("GET", resource_path(kind, name, "status"))
            return status
        except CliError:
            return None

    with ThreadPoolExecutor(max_workers=STATUS_FETCHERS) as pool:
        return list(pool.map(fetch, names))


def _get_command(kind: str) -> click.Command:
    @click.command("get", help=f"""Show one {singular(kind)}.

    \b
    Examples:
      mcp-gateway {kind} get NAME
      mcp-gateway {kind} get NAME -o yaml > {singular(kind)}.yaml   # edit, then: {kind} apply -f {singular(kind)}.yaml
    """)
    @click.argument("name", shell_complete=complete_names(kind))
    def get_command(name: str) -> None:
        session = current_session()
        resource = session.client().json("GET", resource_path(kind, name))
        session.emit(resource, lambda: views.resource_details(kind, resource, colour=session.colour))

    return get_command


# ----- create --------------------------------------------------------------------------------------------


def _workload_source_options(command: Any) -> Any:
    options = [
        click.option("--image", metavar="NAME:TAG", help="A container image (Kubernetes runtime only)."),
        click.option("--url", help="An MCP server that already runs (Streamable HTTP; SSE with --transport sse)."),
        click.option("--transport", type=click.Choice(["stdio", "streamable-http", "sse"]),
                     help="How the command talks MCP (default stdio)."),
        click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="An environment variable (repeat)."),
        click.option("--replicas", type=click.IntRange(0, 50), help="Replica count (default 1)."),
        click.option("--description"),
        click.option("--required-role", "required_roles", multiple=True, metavar="ROLE",
                     help="A role that may read and use it (repeat); none: only you and admins."),
        click.option("--workload-identity", is_flag=True, help="Run with the workload identity (admins)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _create_command(kind: str) -> click.Command:
    if kind == "servers":
        return _create_server_command()
    examples = {
        "adapters": """
    \b
    Examples:
      mcp-gateway adapters create calc --transport streamable-http --replicas 2 --wait \\
          -- python3 sample-servers/mcp-example/src/main.py
      mcp-gateway adapters create everything -- npx -y @modelcontextprotocol/server-everything
      mcp-gateway adapters create remote --url https://mcp.example.com/mcp
    """,
        "tools": """
    \b
    Examples:
      mcp-gateway tools create weather --transport streamable-http --port 8000 --endpoint-path /score \\
          --tool-description 'Current weather' \\
          --input-schema '{"type":"object","properties":{"location":{"type":"string"}}}' \\
          --wait -- python3 sample-servers/tool-example/src/main.py
    """,
    }[kind]

    @click.command("create", help=f"Create {'an adapter' if kind == 'adapters' else 'a tool'}: a command line "
                   "after the name (after --), --image or --url; common fields as options.\n" + examples)
    @click.argument("name")
    @click.argument("command_line", nargs=-1, type=click.UNPROCESSED, metavar="[-- COMMAND [ARGS]...]")
    @_workload_source_options
    @wait_options
    def create_command(name: str, command_line: tuple[str, ...], wait: bool, timeout: float,
                       **options: Any) -> None:
        tool_options = {key: options.pop(key) for key in list(options) if key in ToolFlags.__dataclass_fields__}
        flags = WorkloadFlags(command_line=command_line, **options)
        body = tool_body(name, flags, ToolFlags(**tool_options)) if kind == "tools" else adapter_body(name, flags)
        _create(current_session(), kind, body, wait, timeout)

    if kind == "adapters":
        create_command = click.option("--path", help="Where the server serves MCP (default /mcp).")(create_command)
    else:
        for option in (
            click.option("--title", help="The tool's title."),
            click.option("--tool-description", help="What the tool does (shown to models)."),
            click.option("--input-schema", metavar="JSON|@FILE", help="The arguments' JSON Schema (an object)."),
            click.option("--port", type=click.IntRange(1, 65535), help="Port of the tool's HTTP endpoint (8000)."),
            click.option("--endpoint-path", help="Path of the tool's HTTP endpoint (/score)."),
        ):
            create_command = option(create_command)
    return create_command


def _create_server_command() -> click.Command:
    @click.command("create", help="""Create a virtual server from adapters' and tools' tools.

    \b
    Examples:
      mcp-gateway servers create everyday --member 'adapter:mcp-example=add' --member tool:weather
      mcp-gateway servers create big --member adapter:github --tool-search only
    """)
    @click.argument("name")
    @click.option("--member", "members", multiple=True, metavar="adapter:NAME|tool:NAME[=PATTERN,...]",
                  help="A member, optionally with the tool-name patterns to include (repeat).")
    @click.option("--description")
    @click.option("--required-role", "required_roles", multiple=True, metavar="ROLE")
    @click.option("--tool-search", type=click.Choice(["off", "only", "beside"]))
    def create_command(name: str, **options: Any) -> None:
        _create(current_session(), "servers", server_body(name, ServerFlags(**options)), False, 0)

    return create_command


def _create(session: Session, kind: str, body: dict[str, Any], wait: bool, timeout: float) -> None:
    client = session.client()
    created = client.json("POST", resource_path(kind), json=body)
    label = f"{singular(kind)}/{created['name']}"
    if wait:
        progress = Progress.on_stderr(session.stderr_colour)
        wait_until_ready(client, kind, created["name"], desired=int(created.get("replicaCount", 1)),
                         deadline=time.monotonic() + timeout, progress=progress)
    session.emit(created, lambda: f"{label} created")


# ----- apply ------------------------------------------------------------------------------------------------


def _apply_command(kind: str) -> click.Command:
    @click.command("apply", help=f"""Create or update {kind} from a YAML or JSON file (one, a list, or YAML
    documents separated by ---): by name, only what changed (an unchanged one is left alone).

    \b
    Examples:
      mcp-gateway {kind} apply -f {kind}.yaml --dry-run
      mcp-gateway {kind} apply -f {kind}.yaml{' --wait --timeout 300' if kind in WORKLOAD_KINDS else ''}
      mcp-gateway {kind} get NAME -o json | mcp-gateway {kind} apply -f -
    """)
    @click.option("-f", "--file", "path", required=True, metavar="FILE", help="YAML or JSON; - for stdin.")
    @click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
    @wait_options
    def apply_command(path: str, dry_run: bool, wait: bool, timeout: float) -> None:
        text, origin = read_source(path)
        apply_resources(current_session(), kind, parse_documents(text, origin), dry_run, wait, timeout)

    return apply_command


def apply_resources(
    session: Session, kind: str, resources: list[dict[str, Any]], dry_run: bool, wait: bool, timeout: float
) -> None:
    changes = plan_changes(session.client(), kind, resources)
    done = execute_changes(session, changes, dry_run)
    if session.output != "table":
        session.emit([change.to_document() for change in done], lambda: "")
    if wait and not dry_run:
        wait_for_changes(session.client(), done, timeout, Progress.on_stderr(session.stderr_colour))


def execute_changes(session: Session, changes: list[Change], dry_run: bool) -> list[Change]:
    """Carry out each change (unless ``dry_run``), saying what happened in table mode; the ones done. A
    failure does not stop the others; each failure is one line naming its resource, the first one's code
    ends the command."""
    errors: list[CliError] = []
    done = []
    for change in changes:
        try:
            if not dry_run:
                carry_out(session.client(), change)
        except CliError as exc:
            errors.append(CliError(f"{singular(change.kind)}/{change.name}: {exc.message}", exc.code))
            continue
        done.append(change)
        if session.output == "table":
            echo(describe_change(change, dry_run))
    if errors:
        raise first_failure(errors)
    return done


# ----- delete, status, logs, restart -------------------------------------------------------------------------


def _delete_command(kind: str) -> click.Command:
    @click.command("delete", help=f"""Delete {kind} (their workloads stop).

    \b
    Examples:
      mcp-gateway {kind} delete NAME
      mcp-gateway {kind} delete NAME OTHER --ignore-not-found
    """)
    @click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_names(kind))
    @click.option("--ignore-not-found", is_flag=True, help="A name that does not exist is not an error.")
    def delete_command(names: tuple[str, ...], ignore_not_found: bool) -> None:
        session = current_session()
        deleted = []
        for name in names:
            try:
                session.client().request("DELETE", resource_path(kind, name))
            except ApiError as exc:
                if exc.status == 404 and ignore_not_found:
                    continue
                raise
            deleted.append(name)
            if session.output == "table":
                echo(f"{singular(kind)}/{name} deleted")
        if session.output != "table":
            session.emit([{"kind": kind, "name": name, "action": "delete"} for name in deleted], lambda: "")

    return delete_command


def _status_command(kind: str) -> click.Command:
    @click.command("status", help=f"""Phase, ready replicas and the last error of {a_(kind)}.

    \b
    Examples:
      mcp-gateway {kind} status NAME
      mcp-gateway {kind} status NAME -o json | jq -r .phase
    """)
    @click.argument("name", shell_complete=complete_names(kind))
    def status_command(name: str) -> None:
        session = current_session()
        status = session.client().json("GET", resource_path(kind, name, "status"))
        session.emit(status, lambda: views.status_view(status, colour=session.colour))

    return status_command


def _logs_command(kind: str) -> click.Command:
    @click.command("logs", help=f"""Log lines of one replica of {a_(kind)}.

    \b
    Examples:
      mcp-gateway {kind} logs NAME --tail 50
      mcp-gateway {kind} logs NAME --instance 1 --since 300
      mcp-gateway {kind} logs NAME --follow
    """)
    @click.argument("name", shell_complete=complete_names(kind))
    @click.option("--instance", type=click.IntRange(0, 1000), default=0, show_default=True, help="Replica ordinal.")
    @click.option("--tail", type=click.IntRange(1, 10000), help="Only the last N lines (default 1000).")
    @click.option("--since", metavar="SECONDS|TIME", help="Only lines since: seconds ago, or an RFC 3339 time.")
    @click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the replica stops (Ctrl-C).")
    def logs_command(name: str, instance: int, tail: int | None, since: str | None, follow: bool) -> None:
        client = current_session().client()
        params: dict[str, Any] = {"instance": instance}
        params.update({key: value for key, value in (("tail", tail), ("since", since)) if value is not None})
        path = resource_path(kind, name, "logs")
        if not follow:
            text = client.request("GET", path, params=params).text
            if text:
                echo(text.rstrip("\n"))
            return
        for event, data in client.stream_events(path, {**params, "follow": "true"}):
            if event == "error":
                raise CliError(data.removeprefix("[gateway] "), ExitCode.FAILED)
            echo(data)

    return logs_command


def _restart_command(kind: str) -> click.Command:
    @click.command("restart", help=f"""Replace the replicas of {a_(kind)} one at a time, same spec.

    \b
    Examples:
      mcp-gateway {kind} restart NAME --wait
    """)
    @click.argument("name", shell_complete=complete_names(kind))
    @wait_options
    def restart_command(name: str, wait: bool, timeout: float) -> None:
        session = current_session()
        client = session.client()
        status = client.json("POST", resource_path(kind, name, "restart"))
        if wait:
            desired = int(client.json("GET", resource_path(kind, name)).get("replicaCount", 1))
            status = wait_until_ready(client, kind, name, desired=desired, deadline=time.monotonic() + timeout,
                                      progress=Progress.on_stderr(session.stderr_colour))
        session.emit(status, lambda: f"{singular(kind)}/{name} restarted")

    return restart_command
