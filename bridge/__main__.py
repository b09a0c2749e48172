"""``python -m bridge [--host H] [--port P] [--session-ttl S] [--max-sessions N] [--transport T]
[--sse-url U] [-- CMD ARGS...]``

Targets, first match wins:

1. ``--transport sse`` (``MCP_TRANSPORT=sse``) without a command: the HTTP+SSE server at ``--sse-url``
   (``MCP_SSE_URL``), one SSE connection per MCP session;
2. ``-- COMMAND [ARGS...]`` on the command line: a stdio MCP server, one process per MCP session; with
   ``--transport sse``, an HTTP+SSE server started once on a free ``$PORT``, whose SSE path is ``--sse-url``
   (default ``/sse``), one SSE connection per MCP session;
3. env ``MCP_PROXY_URL``: a remote Streamable HTTP MCP server, relayed transparently;
4. env ``MCP_COMMAND`` + ``MCP_ARGS`` (shlex-split): like 2.

With ``MCP_TRANSPORT=streamable-http`` the command serves HTTP on ``$PORT`` by itself, so the bridge
just execs it (the Kubernetes runtime sets this for ``command`` adapters of that transport).
Exits 1 with a message on stderr when the configuration is unusable, or when the command of an ``sse``
target exits (the runtime restarts the replica).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
from types import FrameType

import uvicorn

from bridge.config import BridgeConfig, ConfigError, ExecTarget, RemoteTarget, SseTarget, load_config
from bridge.http_app import create_sse_app, create_stdio_app
from bridge.remote import create_remote_app
from bridge.stdio_sessions import SessionRegistry

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
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per relayed message (transport sse)
    target = config.target
    if isinstance(target, ExecTarget):
        os.execvp(target.command, [target.command, *target.args])
    sessions: SessionRegistry | None = None
    exit_code = 0
    server: _BridgeServer | None = None

    def command_exited(code: int) -> None:
        nonlocal exit_code
        exit_code = 1
        if server is not None:
            server.should_exit = True

    if isinstance(target, RemoteTarget):
        app = create_remote_app(config, target)
        describe = f"remote {target.url}"
    elif isinstance(target, SseTarget):
        app, sessions, command = create_sse_app(config, target, command_exited)
        if command is not None:
            atexit.register(command.kill_now)
            describe = f"sse {target.url} of " + " ".join([target.command or "", *target.args])[:200]
        else:
            describe = f"sse {target.url}"
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
    if server.started is False and exit_code == 0:
        return 1  # the lifespan failed (an sse command that never listened): uvicorn logged why
    return exit_code


def _check_command(config: BridgeConfig) -> None:
    """Fail at start-up, not at the first initialize, when the command cannot be found."""
    target = config.target
    if isinstance(target, RemoteTarget) or (isinstance(target, SseTarget) and target.command is None):
        return
    assert target.command is not None
    if shutil.which(target.command) is None:
        path = os.environ.get("PATH", "")
        raise ConfigError(f"the command {target.command!r} was not found (PATH={path}).")


if __name__ == "__main__":
    sys.exit(main())
