"""``mcp-gateway serve [--host] [--port] [--data-dir]`` (also ``python -m gateway``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from gateway import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-gateway", description="MCP Gateway")
    parser.add_argument("--version", action="version", version=f"mcp-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="bind address (MCPGW_SERVER__HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (MCPGW_SERVER__PORT, default 8000)")
    serve.add_argument("--data-dir", type=Path, help="state directory (MCPGW_SERVER__DATA_DIR, default .mcp-gateway)")
    serve.add_argument("--log-level", default=os.environ.get("MCPGW_LOG_LEVEL", "info"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {"host": args.host, "port": args.port, "data_dir": args.data_dir}
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"MCPGW_SERVER__{key.upper()}"] = str(value)
    from gateway.app import create_app
    from gateway.errors import MissingExtra
    from gateway.exclusive import AlreadyClaimed, bind_listener, claim_data_dir
    from gateway.server import serve
    from gateway.settings import GatewaySettings
    from gateway.telemetry.logs import configure_logging

    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        print(f"mcp-gateway: {_describe(exc)}", file=sys.stderr)
        return 2
    # One redacting handler on the root logger (text or JSON); uvicorn's loggers propagate to it.
    configure_logging(settings.telemetry.log_format, args.log_level, settings.telemetry.audit_file)
    # httpx logs every request at INFO (health probes, catalog polls): noise, and URLs may carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_QuietInternalPolls())
    try:
        # Claimed before anything starts: a second gateway on this data directory, or a taken port, must
        # fail here, not after the lifespan has started every adapter's processes.
        data_dir_lock = claim_data_dir(settings.server.data_dir)
        listener = bind_listener(settings.server.host, settings.server.port)
    except AlreadyClaimed as exc:
        print(f"mcp-gateway: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except MissingExtra as exc:
        # A backend the settings select is not installed: the setting and the pip command, no traceback.
        listener.close()
        data_dir_lock.close()
        print(f"mcp-gateway: {exc}", file=sys.stderr)
        return 2
    print(
        f"MCP Gateway {__version__} on http://{settings.server.host}:{settings.server.port} "
        f"(store={settings.store.kind}, runtime={settings.runtime.kind}, auth={settings.auth.mode})",
        flush=True,
    )
    # uvicorn with the request limits and the graceful shutdown of MCPGW_SERVER__* (gateway/server.py).
    serve(app, app.state.drain, settings.server, args.log_level.lower(), listener)
    data_dir_lock.close()
    return 0


class _QuietInternalPolls(logging.Filter):
    """Drops access-log lines of the tool router's once-a-second catalog polls."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: args = (client, method, path, http version, status); reading the path
        # avoids formatting every line twice.
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) == 5 else record.getMessage()
        return "/internal/tool-catalog" not in str(path)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = "__".join(str(p).upper() for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"MCPGW_{location}: {message}" if location else message)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
