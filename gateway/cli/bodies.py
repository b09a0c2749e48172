"""Request bodies from ``create`` flags: the common fields as options, everything else through ``apply -f``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.cli.errors import CliError, ExitCode


@dataclass
class WorkloadFlags:
    """``adapters create`` and ``tools create``: one source (a command line, ``--image``, ``--url``) and the
    common fields."""

    command_line: tuple[str, ...] = ()
    image: str | None = None
    url: str | None = None
    transport: str | None = None
    path: str | None = None
    env: tuple[str, ...] = ()
    replicas: int | None = None
    description: str | None = None
    required_roles: tuple[str, ...] = ()
    workload_identity: bool = False


@dataclass
class ToolFlags:
    title: str | None = None
    tool_description: str | None = None
    input_schema: str | None = None
    port: int | None = None
    endpoint_path: str | None = None


@dataclass
class ServerFlags:
    members: tuple[str, ...] = ()
    description: str | None = None
    required_roles: tuple[str, ...] = ()
    tool_search: str | None = None


def adapter_body(name: str, flags: WorkloadFlags) -> dict[str, Any]:
    sources = [bool(flags.command_line), flags.image is not None, flags.url is not None]
    if sum(sources) != 1:
        raise CliError(
            "give exactly one source: a command line after the name (-- python3 server.py), --image NAME:TAG "
            "or --url URL",
            ExitCode.USAGE,
        )
    body: dict[str, Any] = {"name": name}
    if flags.command_line:
        body["command"], *args = flags.command_line
        body["args"] = args
    elif flags.image is not None:
        image, separator, tag = flags.image.rpartition(":")
        if not separator or not image or "/" in tag:
            raise CliError(f"--image {flags.image!r}: expected NAME:TAG such as weather-tool:1.0.0", ExitCode.USAGE)
        body["imageName"], body["imageVersion"] = image, tag
    else:
        body["url"] = flags.url
    optional = {
        "transport": flags.transport,
        "path": flags.path,
        "replicaCount": flags.replicas,
        "description": flags.description,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if flags.env:
        body["environmentVariables"] = key_values(flags.env, "--env")
    if flags.required_roles:
        body["requiredRoles"] = list(flags.required_roles)
    if flags.workload_identity:
        body["useWorkloadIdentity"] = True
    return body


def tool_body(name: str, flags: WorkloadFlags, tool: ToolFlags) -> dict[str, Any]:
    # A tool's endpoint path is toolDefinition.path; the workload has no MCP path of its own.
    body = adapter_body(name, WorkloadFlags(**{**flags.__dict__, "path": None}))
    definition: dict[str, Any] = {"name": name, "inputSchema": json_object(tool.input_schema, "--input-schema")}
    if tool.title is not None:
        definition["title"] = tool.title
    if tool.tool_description is not None:
        definition["description"] = tool.tool_description
    body["toolDefinition"] = {"tool": definition}
    if tool.port is not None:
        body["toolDefinition"]["port"] = tool.port
    if tool.endpoint_path is not None:
        body["toolDefinition"]["path"] = tool.endpoint_path
    return body


def server_body(name: str, flags: ServerFlags) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "members": [member(text) for text in flags.members]}
    if flags.description is not None:
        body["description"] = flags.description
    if flags.required_roles:
        body["requiredRoles"] = list(flags.required_roles)
    if flags.tool_search is not None:
        body["toolSearch"] = flags.tool_search
    return body


def member(text: str) -> dict[str, Any]:
    """``adapter:NAME`` or ``tool:NAME``, optionally ``=PATTERN,PATTERN`` (the tools to include):
    ``adapter:github=get_*,list_*``."""
    reference, _, patterns = text.partition("=")
    kind, separator, name = reference.partition(":")
    if not separator or kind not in ("adapter", "tool") or not name:
        raise CliError(f"--member {text!r}: expected adapter:NAME or tool:NAME (then =PATTERN,...)", ExitCode.USAGE)
    entry: dict[str, Any] = {kind: name}
    if patterns:
        entry["include"] = [pattern.strip() for pattern in patterns.split(",") if pattern.strip()]
    return entry


def key_values(pairs: tuple[str, ...], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise CliError(f"{option} {pair!r}: expected NAME=VALUE", ExitCode.USAGE)
        values[key] = value
    return values


def json_object(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@FILE``; ``{"type": "object"}`` when not given."""
    if text is None:
        return {"type": "object"}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{option}: cannot read {text[1:]}: {exc.strerror}", ExitCode.USAGE) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option}: not valid JSON ({exc.msg})", ExitCode.USAGE) from None
    if not isinstance(value, dict):
        raise CliError(f"{option}: expected a JSON object", ExitCode.USAGE)
    return value
