"""``mcp-gateway import FILE``: a client's MCP configuration turned into adapter documents.

Understood: VS Code's ``.vscode/mcp.json`` (``servers``, or ``mcp.servers`` in settings.json), Claude Desktop's
``claude_desktop_config.json`` and Cursor's ``mcp.json`` (both ``mcpServers``). A stdio server becomes a
``command`` adapter (``args``, ``env``), an HTTP server a ``url`` adapter (``transport: sse`` for SSE). Whatever
cannot run behind the gateway is skipped with the reason: values VS Code asks for at start
(``${input:...}``), headers the gateway cannot send to a url, entries that are not servers. Pure functions:
the command shows the plan and applies it (gateway.cli.commands.imports).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.cli.names import unique_names

ClientFormat = Literal["vscode", "claude", "cursor"]
CLIENT_FORMATS: tuple[ClientFormat, ...] = ("vscode", "claude", "cursor")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_KNOWN_FIELDS = frozenset({"type", "command", "args", "env", "envFile", "cwd", "url", "headers", "disabled"})
_HTTP_TYPES = frozenset({"http", "streamable-http", "streamableHttp", "sse"})


class Unimportable(Exception):
    """This entry cannot become an adapter; the message says why."""


@dataclass
class PlannedAdapter:
    label: str
    """The entry's key in the client's file."""
    body: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.body["name"])


@dataclass
class SkippedEntry:
    label: str
    reason: str


@dataclass
class ImportPlan:
    client: ClientFormat
    adapters: list[PlannedAdapter] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Variables:
    """What ``${...}`` in a client configuration can be resolved to here."""

    workspace: Path | None
    home: Path
    environ: Mapping[str, str]

    @classmethod
    def for_file(cls, path: Path, environ: Mapping[str, str] | None = None) -> Variables:
        # .vscode/mcp.json and .cursor/mcp.json sit in the workspace they belong to.
        parent = path.resolve().parent
        workspace = parent.parent if parent.name in (".vscode", ".cursor") else None
        return cls(workspace, Path.home(), os.environ if environ is None else environ)

    def expand(self, text: str) -> str:
        return _VARIABLE.sub(lambda match: self._value(match.group(1)), text)

    def _value(self, variable: str) -> str:
        if variable.startswith("input:"):
            raise Unimportable(
                f"uses ${{{variable}}}, a value the client asks for when the server starts; put the value in "
                "the file or create the adapter with mcp-gateway adapters create --env"
            )
        if variable.startswith("env:"):
            name = variable.removeprefix("env:")
            if name not in self.environ:
                raise Unimportable(f"uses ${{{variable}}} and {name} is not set in this shell")
            return self.environ[name]
        if variable in ("workspaceFolder", "workspaceRoot") and self.workspace is not None:
            return str(self.workspace)
        if variable == "userHome":
            return str(self.home)
        if variable == "pathSeparator":
            return "/"
        raise Unimportable(f"uses ${{{variable}}}, which the CLI cannot resolve")


def detect_client(document: Any, path: Path) -> ClientFormat | None:
    """Which client wrote ``document``: VS Code has ``servers``; Claude Desktop and Cursor share ``mcpServers``
    and differ in the file's name and place."""
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("servers"), dict) or isinstance((document.get("mcp") or {}).get("servers"), dict):
        return "vscode"
    if isinstance(document.get("mcpServers"), dict):
        return "claude" if "claude" in path.name.lower() else "cursor"
    return None


def server_entries(document: dict[str, Any], client: ClientFormat) -> dict[str, Any]:
    if client == "vscode":
        servers = document.get("servers")
        if not isinstance(servers, dict):
            servers = (document.get("mcp") or {}).get("servers")
        return dict(servers) if isinstance(servers, dict) else {}
    entries = document.get("mcpServers")
    return dict(entries) if isinstance(entries, dict) else {}


def plan_import(
    document: dict[str, Any],
    client: ClientFormat,
    variables: Variables,
    origin: str,
    required_roles: list[str] | None = None,
) -> ImportPlan:
    """Every server entry of ``document`` as an adapter to create, or skipped with a reason."""
    plan = ImportPlan(client)
    entries = server_entries(document, client)
    names = unique_names(list(entries))
    for label, entry in entries.items():
        try:
            body, notes = convert_entry(entry, variables)
        except Unimportable as reason:
            plan.skipped.append(SkippedEntry(label, str(reason)))
            continue
        name = names[label]
        if name != label:
            notes.insert(0, f"named {name} (gateway names are lowercase letters, digits and dashes)")
        body = {"name": name, **body, "description": f"Imported from {origin} ({label})"[:4096]}
        if required_roles:
            body["requiredRoles"] = list(required_roles)
        plan.adapters.append(PlannedAdapter(label, body, notes))
    return plan


def convert_entry(entry: Any, variables: Variables) -> tuple[dict[str, Any], list[str]]:
    """One client entry as an adapter body without its name, and notes on what was left behind."""
    if not isinstance(entry, dict):
        raise Unimportable("is not an object describing a server")
    if entry.get("disabled") is True:
        raise Unimportable("is disabled in the client's configuration")
    notes = [f"ignored {key!r}" for key in sorted(set(entry) - _KNOWN_FIELDS)]
    kind = entry.get("type")
    if kind is not None and kind not in _HTTP_TYPES and kind != "stdio":
        raise Unimportable(f"has type {kind!r}; only stdio, http and sse servers can be imported")
    if kind in _HTTP_TYPES or (kind is None and "url" in entry and "command" not in entry):
        return _url_adapter(entry, kind, variables), notes
    if "command" in entry:
        return _command_adapter(entry, variables, notes), notes
    raise Unimportable("has neither a command nor a url")


def _command_adapter(entry: dict[str, Any], variables: Variables, notes: list[str]) -> dict[str, Any]:
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise Unimportable("has a command that is not a string")
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(isinstance(arg, str | int | float) for arg in args):
        raise Unimportable("has args that are not a list of strings")
    env = entry.get("env") or {}
    if not isinstance(env, dict):
        raise Unimportable("has env that is not an object")
    if entry.get("cwd"):
        notes.append(f"ignored cwd {entry['cwd']!r}: the gateway runs commands in its own working directory")
    if entry.get("envFile"):
        notes.append(f"ignored envFile {entry['envFile']!r}: put its variables in env")
    body: dict[str, Any] = {
        "command": variables.expand(command),
        "args": [variables.expand(str(arg)) for arg in args],
        "transport": "stdio",
    }
    if env:
        body["environmentVariables"] = {str(k): variables.expand(_env_value(k, v)) for k, v in env.items()}
    return body


def _env_value(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise Unimportable(f"has env {key} that is not a string")
    return str(value)


def _url_adapter(entry: dict[str, Any], kind: Any, variables: Variables) -> dict[str, Any]:
    url = entry.get("url")
    if not isinstance(url, str):
        raise Unimportable(f"is an {kind or 'http'} server without a url")
    url = variables.expand(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unimportable(f"has url {url!r}, which is not an http(s) URL")
    if entry.get("headers"):
        names = ", ".join(sorted(map(str, entry["headers"])))
        raise Unimportable(f"sends headers ({names}) that the gateway cannot send to a url adapter")
    sse = kind == "sse" or (kind is None and parts.path.rstrip("/").endswith("/sse"))
    return {"url": url, "transport": "sse"} if sse else {"url": url}
