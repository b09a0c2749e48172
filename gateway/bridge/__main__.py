"""``python -m gateway.bridge [--host H] [--port P] [--session-ttl S] [--max-sessions N] [-- CMD ARGS...]``

Targets, first match wins:

1. ``-- COMMAND [ARGS...]`` on the command line: a stdio MCP server, one process per MCP session;
2. env ``MCP_PROXY_URL``: a remote Streamable HTTP MCP server, relayed transparently;
3. env ``MCP_COMMAND`` + ``MCP_ARGS`` (shlex-split): like 1.

With ``MCP_TRANSPORT=streamable-http`` the command serves HTTP on ``$PORT`` by itself, so the bridge
just execs it (the Kubernetes runtime sets this for ``command`` adapters of that transport).
Exits 1 with a message on stderr when the configuration is unusable.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
from types import FrameType

import uvicorn

from gateway.bridge.config import BridgeConfig, ConfigError, ExecTarget, RemoteTarget, load_config
from gateway.bridge.http_app import create_stdio_app
from gateway.bridge.remote import create_remote_app
from gateway.bridge.stdio_sessions import SessionRegistry

PROG = "mcp-bridge"


class _BridgeServer(uvicorn.Server):
    """uvicorn waits for open connections before shutting down; end the SSE streams first so it can."""

    def __init__(self, config: uvicorn.Config, sessions: SessionRegistry | None) -> None:
        super().__init__(config)
        self._sessions = sessions

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._sessions is not None:
            self._sessions.request_shutdown()
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> int:
    """Run the bridge until SIGINT/SIGTERM; returns the exit code."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv, os.environ)
        _check_command(config)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    target = config.target
    if isinstance(target, ExecTarget):
        os.execvp(target.command, [target.command, *target.args])
    sessions: SessionRegistry | None = None
    if isinstance(target, RemoteTarget):
        app = create_remote_app(config, target)
        describe = f"remote {target.url}"
    else:
        app, sessions = create_stdio_app(config, target)
        # SIGKILL-proof cleanup is PR_SET_PDEATHSIG in the children; this covers ordinary exits.
        atexit.register(sessions.kill_all_now)
        describe = " ".join([target.command, *target.args])[:200]
    sys.stderr.write(f"{PROG}: serving http://{config.host}:{config.port}/mcp -> {describe}\n")
    sys.stderr.flush()
    server = _BridgeServer(
        uvicorn.Config(app, host=config.host, port=config.port, log_level=config.log_level,
                       timeout_graceful_shutdown=5, lifespan="on"),
        sessions,
    )
    server.run()
    return 0


def _check_command(config: BridgeConfig) -> None:
    """Fail at start-up, not at the first initialize, when the command cannot be found."""
    target = config.target
    if isinstance(target, RemoteTarget):
        return
    if shutil.which(target.command) is None:
        path = os.environ.get("PATH", "")
        raise ConfigError(f"the command {target.command!r} was not found (PATH={path}).")


if __name__ == "__main__":
    sys.exit(main())
