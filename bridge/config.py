"""The bridge's configuration: command line first, then environment, validated before anything starts.

The safety rules on ``MCP_COMMAND`` / ``MCP_ARGS`` mirror the original mcp-proxy sample (with a larger
per-argument limit): the values usually come from an adapter definition that a user submitted, so they
are bounded and may not smuggle control characters into a process table or a log line.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_VALUE_CHARS = 4096
MAX_ARGS = 64
DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SESSION_TTL = 600.0
"""Seconds an idle session lives: a client that never sends DELETE must not pin a server process for long."""
DEFAULT_MAX_SESSIONS = 64
DEFAULT_SSE_PATH = "/sse"
TRANSPORTS = ("stdio", "streamable-http", "sse")
MAX_BODY_BYTES = 4 * 1024 * 1024


class ConfigError(ValueError):
    """The configuration is unusable; the message says which setting to fix."""


@dataclass(frozen=True)
class StdioTarget:
    """Run ``command`` with ``args`` once per MCP session and speak newline-delimited JSON-RPC to it."""

    command: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class RemoteTarget:
    """Relay every request to a remote Streamable HTTP MCP endpoint."""

    url: str


@dataclass(frozen=True)
class ExecTarget:
    """``MCP_TRANSPORT=streamable-http``: the command serves HTTP on $PORT itself, so the bridge execs it."""

    command: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class SseTarget:
    """``MCP_TRANSPORT=sse``: a server that speaks only the 2024-11-05 HTTP+SSE transport.

    With a ``command``, the bridge starts it once, with ``$PORT`` set to a free loopback port, and ``url`` is
    the SSE path on that port; without one, ``url`` is the absolute URL of the SSE endpoint. Each MCP session
    gets its own SSE connection.
    """

    url: str
    command: str | None = None
    args: tuple[str, ...] = ()


Target = StdioTarget | RemoteTarget | ExecTarget | SseTarget


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs to run; built by :func:`load_config`."""

    target: Target
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    session_ttl: float = DEFAULT_SESSION_TTL
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_body_bytes: int = MAX_BODY_BYTES
    log_level: str = "info"


def parser() -> argparse.ArgumentParser:
    """The ``python -m bridge`` argument parser."""
    result = argparse.ArgumentParser(
        prog="python -m bridge",
        description="Serve a stdio MCP server (or relay a remote one) over MCP Streamable HTTP at /mcp.",
        epilog="Without a command after '--': MCP_PROXY_URL, else MCP_COMMAND + MCP_ARGS (shlex-split).",
    )
    result.add_argument("--host", help=f"bind address (env HOST, default {DEFAULT_HOST})")
    result.add_argument("--port", type=int, help=f"port (env PORT, default {DEFAULT_PORT})")
    result.add_argument("--session-ttl", type=float,
                        help="seconds an idle session (and its child process) lives "
                             f"(env MCP_SESSION_TTL, default {DEFAULT_SESSION_TTL:g})")
    result.add_argument("--max-sessions", type=int,
                        help=f"concurrent sessions (env MCP_MAX_SESSIONS, default {DEFAULT_MAX_SESSIONS})")
    result.add_argument("--log-level", help="uvicorn/bridge log level (env MCP_LOG_LEVEL, default info)")
    result.add_argument("--transport", choices=TRANSPORTS,
                        help="how the server speaks: stdio (default), streamable-http (the command serves $PORT "
                             "itself: exec it) or sse (2024-11-05 HTTP+SSE) (env MCP_TRANSPORT)")
    result.add_argument("--sse-url",
                        help="transport sse: the SSE endpoint, a URL, or with a command a path on its $PORT "
                             f"(env MCP_SSE_URL, default {DEFAULT_SSE_PATH} with a command)")
    result.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]: a stdio MCP server")
    return result


def load_config(argv: Sequence[str], env: Mapping[str, str]) -> BridgeConfig:
    """Build the configuration from ``argv`` (without the program name) and ``env``.

    Raises:
        ConfigError: a value is missing or breaks the rules; the message names the setting.
    """
    args = parser().parse_args(list(argv))
    command_line = list(args.command)
    if command_line[:1] == ["--"]:
        command_line = command_line[1:]
    return BridgeConfig(
        target=_target(command_line, env, args.transport, args.sse_url),
        host=args.host or env.get("HOST") or DEFAULT_HOST,
        port=_int("--port/PORT", args.port, env.get("PORT"), DEFAULT_PORT, 1, 65535),
        session_ttl=_ttl(args.session_ttl, env.get("MCP_SESSION_TTL")),
        max_sessions=_int("--max-sessions/MCP_MAX_SESSIONS", args.max_sessions, env.get("MCP_MAX_SESSIONS"),
                          DEFAULT_MAX_SESSIONS, 1, 100_000),
        log_level=(args.log_level or env.get("MCP_LOG_LEVEL") or "info").lower(),
    )


def _target(
    command_line: list[str], env: Mapping[str, str], transport_arg: str | None = None, sse_url: str | None = None,
) -> Target:
    transport = transport_arg or env.get("MCP_TRANSPORT", "stdio") or "stdio"
    if transport not in TRANSPORTS:
        raise ConfigError(f"MCP_TRANSPORT must be 'stdio', 'streamable-http' or 'sse', not {transport!r}.")
    sse = sse_url or env.get("MCP_SSE_URL") or None
    if transport == "sse" and not command_line and not env.get("MCP_COMMAND"):
        if sse is None:
            raise ConfigError("Transport sse without a command needs the SSE endpoint's URL (--sse-url/MCP_SSE_URL).")
        return SseTarget(validate_url(sse, "--sse-url/MCP_SSE_URL"))
    if command_line:
        return _command_target(command_line[0], command_line[1:], "the command after '--'", transport, sse)
    if url := env.get("MCP_PROXY_URL"):
        return RemoteTarget(validate_url(url))
    command = env.get("MCP_COMMAND")
    if not command:
        raise ConfigError("Must set either MCP_PROXY_URL or MCP_COMMAND (or pass '-- COMMAND [ARGS...]').")
    try:
        arguments = shlex.split(env.get("MCP_ARGS", ""))
    except ValueError as exc:
        raise ConfigError(f"MCP_ARGS is not valid shell syntax: {exc}.") from None
    return _command_target(command, arguments, "MCP_COMMAND/MCP_ARGS", transport, sse)


def _command_target(
    command: str, arguments: Sequence[str], source: str, transport: str, sse_url: str | None = None,
) -> Target:
    validate_command(command, arguments, source)
    if transport == "streamable-http":
        return ExecTarget(command, tuple(arguments))
    if transport == "sse":
        return SseTarget(validate_sse_path(sse_url or DEFAULT_SSE_PATH), command, tuple(arguments))
    return StdioTarget(command, tuple(arguments))


def validate_sse_path(path: str) -> str:
    """The SSE endpoint of a command the bridge starts: a path on its port, printable, without spaces."""
    if not path.startswith("/") or len(path) > MAX_VALUE_CHARS or any(c <= " " or c == "\x7f" for c in path):
        raise ConfigError(
            f"--sse-url/MCP_SSE_URL with a command must be a path on the command's port such as /sse, got {path!r}."
        )
    return path


def validate_command(command: str, arguments: Sequence[str], source: str = "MCP_COMMAND/MCP_ARGS") -> None:
    """Apply the safety rules: 1..4096 characters each, no NUL/CR/LF, at most 64 arguments."""
    if len(arguments) > MAX_ARGS:
        raise ConfigError(f"{source}: at most {MAX_ARGS} arguments are allowed, got {len(arguments)}.")
    for label, value in [("command", command), *((f"argument {i + 1}", a) for i, a in enumerate(arguments))]:
        if not 1 <= len(value) <= MAX_VALUE_CHARS:
            raise ConfigError(f"{source}: the {label} must be 1..{MAX_VALUE_CHARS} characters long.")
        if any(c in value for c in "\0\r\n"):
            raise ConfigError(f"{source}: the {label} must not contain NUL, CR or LF characters.")


def validate_url(url: str, setting: str = "MCP_PROXY_URL") -> str:
    """Accept only an absolute http(s) URL with a host (the MCP_PROXY_URL rule)."""
    if len(url) > MAX_VALUE_CHARS or any(c in url for c in "\0\r\n\t "):
        raise ConfigError(f"{setting} must be a single http(s) URL without spaces or control characters.")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(f"{setting} has an invalid port: {url!r}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting} must be an absolute http:// or https:// URL, got {url!r}.")
    return url


def _int(label: str, given: int | None, raw: str | None, default: int, low: int, high: int) -> int:
    value: int = default
    if given is not None:
        value = given
    elif raw:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{label} must be an integer, got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{label} must be between {low} and {high}, got {value}.")
    return value


def _ttl(given: float | None, raw: str | None) -> float:
    value = DEFAULT_SESSION_TTL
    if given is not None:
        value = given
    elif raw:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"MCP_SESSION_TTL must be a number of seconds, got {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"--session-ttl/MCP_SESSION_TTL must be positive, got {value:g}.")
    return value

