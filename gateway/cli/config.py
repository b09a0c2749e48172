"""The CLI's configuration file: named contexts (a gateway URL and how to present yourself to it).

``$XDG_CONFIG_HOME/mcp-gateway/config.yaml`` (``~/.config/mcp-gateway/config.yaml`` without it)::

    currentContext: local
    contexts:
      local: {gateway: "http://127.0.0.1:8000", user: alice, roles: [mcp.admin]}
      prod: {gateway: "https://gateway.example.com", clientId: 00000000-0000-0000-0000-000000000000}

The directory also holds the token cache (:mod:`gateway.cli.tokens`), so it and every file in it are private
to the user (0700 and 0600): a context can name a client id and a token file is a credential.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.cli.errors import CliError, ExitCode

CONTEXT_FIELDS = ("gateway", "user", "roles", "clientId", "scopes")
"""What a context may set; anything else in the file is an error (a typo must not be ignored silently)."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mcp-gateway"


def config_path() -> Path:
    return config_dir() / "config.yaml"


@dataclass
class Context:
    gateway: str | None = None
    user: str | None = None
    roles: list[str] = field(default_factory=list)
    client_id: str | None = None
    scopes: list[str] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "gateway": self.gateway,
            "user": self.user,
            "roles": self.roles or None,
            "clientId": self.client_id,
            "scopes": self.scopes or None,
        }
        return {key: value for key, value in document.items() if value is not None}


@dataclass
class CliConfig:
    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "currentContext": self.current,
            "contexts": {name: context.to_document() for name, context in sorted(self.contexts.items())},
        }


def load_config(path: Path | None = None) -> CliConfig:
    """The configuration file, or an empty configuration when there is none."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CliConfig()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML: {_yaml_problem(exc)}", ExitCode.USAGE) from None
    return _parse_config(document, path)


def _parse_config(document: Any, path: Path) -> CliConfig:
    if not isinstance(document, dict):
        raise CliError(f"{path}: expected a mapping with currentContext and contexts", ExitCode.USAGE)
    contexts = document.get("contexts") or {}
    if not isinstance(contexts, dict):
        raise CliError(f"{path}: contexts must be a mapping of names to contexts", ExitCode.USAGE)
    current = document.get("currentContext")
    if current is not None and not isinstance(current, str):
        raise CliError(f"{path}: currentContext must be a context's name", ExitCode.USAGE)
    return CliConfig(current, {str(name): _parse_context(str(name), raw, path) for name, raw in contexts.items()})


def _parse_context(name: str, raw: Any, path: Path) -> Context:
    if not isinstance(raw, dict):
        raise CliError(f"{path}: context {name!r} must be a mapping of {', '.join(CONTEXT_FIELDS)}", ExitCode.USAGE)
    unknown = sorted(set(raw) - set(CONTEXT_FIELDS))
    if unknown:
        raise CliError(
            f"{path}: context {name!r} has unknown fields {', '.join(map(str, unknown))} "
            f"(known: {', '.join(CONTEXT_FIELDS)})",
            ExitCode.USAGE,
        )
    return Context(
        gateway=_text(raw, "gateway", name, path),
        user=_text(raw, "user", name, path),
        roles=_list(raw, "roles", name, path),
        client_id=_text(raw, "clientId", name, path),
        scopes=_list(raw, "scopes", name, path),
    )


def _text(raw: dict[str, Any], key: str, name: str, path: Path) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise CliError(f"{path}: {key} of context {name!r} must be a string", ExitCode.USAGE)
    return value


def _list(raw: dict[str, Any], key: str, name: str, path: Path) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if isinstance(value, str):  # "roles: mcp.admin, mcp.user" reads as well as a list
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CliError(f"{path}: {key} of context {name!r} must be a list of strings", ExitCode.USAGE)
    return list(value)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def save_config(config: CliConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    write_private(path, yaml.safe_dump(config.to_document(), sort_keys=False, default_flow_style=False))
    return path


def private_dir(directory: Path) -> Path:
    """``directory`` created if need be, readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    return directory


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (never world-readable, not even briefly),
    replacing the file atomically so a reader never sees half a token."""
    private_dir(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
