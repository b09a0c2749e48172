"""``apply -f FILE``: resource documents read from YAML or JSON, and how they differ from what the gateway has.

A file holds one resource, a list of them, or several YAML documents (``---``). Fields the gateway sets
(``id``, ``createdBy``, ``createdAt``, ``lastUpdatedAt``) are dropped, so ``get -o yaml`` output applies as
it is. A resource is unchanged when every field equals the gateway's, where a field left out of the file
counts as its default: the gateway's answer lists every field, the file only those that matter, and a
second apply of the same file must change nothing (a ``PUT`` of an adapter restarts its replicas).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.cli.errors import CliError, ExitCode

SERVER_FIELDS = frozenset({"id", "createdBy", "createdAt", "lastUpdatedAt"})
DEFAULTS: dict[tuple[str, ...], Any] = {
    ("replicaCount",): 1,
    ("toolSearch",): "off",
    ("toolDefinition", "port"): 8000,
    ("toolDefinition", "path"): "/score",
    ("toolDefinition", "tool", "inputSchema"): {"type": "object"},
}
"""Defaults that are not empty (empty values, ``false`` included, are defaults everywhere)."""
MCP_TOOL_FIELDS = frozenset({"name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"})
"""The gateway keeps only these in ``toolDefinition.tool`` and drops the rest (the original API's ``type``)."""
_MISSING = object()


@dataclass
class Change:
    kind: str
    name: str
    action: str
    """``create``, ``update`` or ``unchanged``."""
    fields: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "fields": self.fields}


def read_source(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-`` for stdin) and a name for messages."""
    if path == "-":
        return sys.stdin.read(), "stdin"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", ExitCode.USAGE) from None


def parse_documents(text: str, origin: str) -> list[dict[str, Any]]:
    """The resources in ``text`` (JSON or YAML), each without the fields the gateway sets."""
    documents = _load(text, origin)
    resources: list[dict[str, Any]] = []
    for document in documents:
        items = document if isinstance(document, list) else [document]
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise CliError(f"{origin}: item {index + 1} is not a mapping of fields", ExitCode.USAGE)
            if not isinstance(item.get("name"), str) or not item["name"]:
                raise CliError(f"{origin}: item {index + 1} has no name", ExitCode.USAGE)
            resources.append({key: value for key, value in item.items() if key not in SERVER_FIELDS})
    if not resources:
        raise CliError(f"{origin}: no resources in it", ExitCode.USAGE)
    names = [resource["name"] for resource in resources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CliError(f"{origin}: {', '.join(duplicates)} appear more than once", ExitCode.USAGE)
    return resources


def _load(text: str, origin: str) -> list[Any]:
    if origin.endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise CliError(f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}", ExitCode.USAGE) from None
    try:
        return [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CliError(f"{origin} is not valid YAML: {getattr(exc, 'problem', exc)}{where}", ExitCode.USAGE) from None


def differences(desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted paths of the fields where ``desired`` (as written) and ``current`` (as stored) differ."""
    found: list[str] = []
    _compare(normalised(desired), current, (), found)
    return list(dict.fromkeys(found))


def normalised(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` as the gateway stores it, where that is cheap to know: roles trimmed and deduplicated."""
    roles = resource.get("requiredRoles")
    if not isinstance(roles, list):
        return resource
    seen: dict[str, str] = {}
    for role in roles:
        if isinstance(role, str) and role.strip() and role.strip().lower() not in seen:
            seen[role.strip().lower()] = role.strip()
    return {**resource, "requiredRoles": list(seen.values())}


def _compare(desired: Any, current: Any, path: tuple[str, ...], found: list[str]) -> None:
    if isinstance(desired, dict) and isinstance(current, dict):
        keys = sorted(set(desired) | set(current))
        if path == ():
            keys = [key for key in keys if key not in SERVER_FIELDS]
        if path == ("toolDefinition", "tool"):
            keys = [key for key in keys if key in MCP_TOOL_FIELDS]
        for key in keys:
            wanted, stored = desired.get(key, _MISSING), current.get(key, _MISSING)
            child = (*path, key)
            if wanted is _MISSING or stored is _MISSING:
                present = stored if wanted is _MISSING else wanted
                if not _is_default(child, present):
                    found.append(_dotted(child))
            else:
                _compare(wanted, stored, child, found)
    elif isinstance(desired, list) and isinstance(current, list) and len(desired) == len(current):
        for index, (wanted, stored) in enumerate(zip(desired, current, strict=True)):
            _compare(wanted, stored, (*path, str(index)), found)
    elif desired != current or type(desired) is bool and type(current) is not bool:
        found.append(_dotted(path))


def _is_default(path: tuple[str, ...], value: Any) -> bool:
    if value is None or value is False or value in ("", [], {}):
        return True
    pattern = tuple("*" if part.isdigit() else part for part in path)
    default = DEFAULTS.get(pattern, _MISSING)
    return default is not _MISSING and default == value


def _dotted(path: tuple[str, ...]) -> str:
    """The field as a person names it: list positions cut off (``args``, not ``args.1``)."""
    named: list[str] = []
    for part in path:
        if part.isdigit():
            break
        named.append(part)
    return ".".join(named) or "(the whole resource)"
