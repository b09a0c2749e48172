"""``mcp-gateway serve [--host] [--port] [--data-dir] [--log-level]`` (also ``python -m gateway``), and every
other command: the management CLI (:mod:`gateway.cli`), loaded only when ``serve`` is not the command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from gateway import __version__

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
LOG_LEVEL_VARIABLE = "MCPGW_LOG_LEVEL"


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["serve"]:
        return serve(arguments[1:])
    from gateway.cli.app import run

    return run(arguments)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-gateway serve", description="Run the MCP gateway.")
    parser.add_argument("--host", help="bind address (MCPGW_SERVER__HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (MCPGW_SERVER__PORT, default 8000)")
    parser.add_argument("--data-dir", type=Path, help="state directory (MCPGW_SERVER__DATA_DIR, default .mcp-gateway)")
    parser.add_argument(
        "--log-level",
        type=_log_level,
        help=f"{', '.join(LOG_LEVELS)} ({LOG_LEVEL_VARIABLE}, default info)",
    )
    return parser


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    log_level = args.log_level or os.environ.get(LOG_LEVEL_VARIABLE, "info").lower()
    if log_level not in LOG_LEVELS:
        print(f"mcp-gateway: {LOG_LEVEL_VARIABLE}: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}",
              file=sys.stderr)
        return 2
    overrides = {"host": args.host, "port": args.port, "data_dir": args.data_dir}
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"MCPGW_SERVER__{key.upper()}"] = str(value)
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from gateway.app import create_app
    from gateway.errors import MissingExtra
    from gateway.exclusive import AlreadyClaimed, bind_listener, claim_data_dir
    from gateway.server import serve as serve_app
    from gateway.settings import GatewaySettings
    from gateway.telemetry.logs import configure_logging

    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        return _report(_describe(exc))
    except SettingsError as exc:
        # A value pydantic-settings could not even parse (a list or object variable that is not JSON).
        return _report(_describe_unparsable(exc))
    # One redacting handler on the root logger (text or JSON); uvicorn's loggers propagate to it.
    configure_logging(settings.telemetry.log_format, log_level, settings.telemetry.audit_file)
    # httpx logs every request at INFO (health probes, catalog polls): noise, and URLs may carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_QuietInternalPolls())
    try:
        # Claimed before anything starts: a second gateway on this data directory, or a taken port, must
        # fail here, not after the lifespan has started every adapter's processes.
        data_dir_lock = claim_data_dir(settings.server.data_dir)
        listener = bind_listener(settings.server.host, settings.server.port)
    except AlreadyClaimed as exc:
        return _report([str(exc)])
    try:
        app = create_app(settings)
    except MissingExtra as exc:
        # A backend the settings select is not installed: the setting and the pip command, no traceback.
        listener.close()
        data_dir_lock.close()
        return _report([str(exc)])
    print(
        f"MCP Gateway {__version__} on http://{settings.server.host}:{settings.server.port} "
        f"(store={settings.store.kind}, runtime={settings.runtime.kind}, auth={settings.auth.mode})",
        flush=True,
    )
    # uvicorn with the request limits and the graceful shutdown of MCPGW_SERVER__* (gateway/server.py).
    serve_app(app, app.state.drain, settings.server, log_level, listener)
    data_dir_lock.close()
    return 0


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"mcp-gateway: {problem}", file=sys.stderr)
    return 2


class _QuietInternalPolls(logging.Filter):
    """Drops access-log lines of the tool router's once-a-second catalog polls."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: args = (client, method, path, http version, status); reading the path
        # avoids formatting every line twice.
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) == 5 else record.getMessage()
        return "/internal/tool-catalog" not in str(path)


def _describe(exc: Any) -> list[str]:
    """One line per problem of a settings ``ValidationError``, naming the variable."""
    lines = []
    for error in exc.errors():
        location = "__".join(str(p).upper() for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if location:
            lines.append(f"MCPGW_{location}: {message}")
        else:
            # The cross-field checks list their problems one per line, each naming its variables.
            lines += [line.strip().removeprefix("- ") for line in message.splitlines()[1:] or [message]]
    return lines


def _describe_unparsable(exc: Exception) -> list[str]:
    """The variables under the field named in ``exc`` that should hold JSON and do not, and what they expect."""
    found = re.search(r'field "([^"]+)"', str(exc))
    prefix = f"MCPGW_{found.group(1)}".upper() if found else "MCPGW_"
    problems = []
    for name, value in sorted(os.environ.items()):
        upper = name.upper()
        if upper != prefix and not upper.startswith(prefix + "__"):
            continue
        expected = _json_shape(upper.removeprefix("MCPGW_").lower().split("__"))
        if expected is not None and not _is_json(value):
            shown = value if len(value) <= 40 else value[:39] + "…"
            problems.append(f"{name}: expected {expected} in JSON, got {shown!r}")
    return problems or [f"{prefix}: {exc}"]


def _json_shape(path: list[str]) -> str | None:
    """What the settings field at ``path`` holds when pydantic-settings reads it as JSON, else None."""
    from pydantic import BaseModel

    from gateway.settings import GatewaySettings

    model: Any = GatewaySettings
    annotation: Any = None
    for segment in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or segment not in fields:
            return None
        annotation = fields[segment].annotation
        model = next((a for a in _members(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    for member in _members(annotation):
        origin = typing.get_origin(member) or member
        if origin in (list, tuple, set, frozenset):
            return 'a list such as ["a", "b"]'
        if origin is dict or (isinstance(origin, type) and issubclass(origin, BaseModel)):
            return 'an object such as {"key": "value"}'
    return None


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None``), or the annotation itself."""
    arguments = typing.get_args(annotation)
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return arguments if union else (annotation,)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
