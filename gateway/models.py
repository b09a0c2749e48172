"""Wire schemas of the control plane, with the original API's JSON field names.

Unknown-field policy: resource bodies and ``toolDefinition`` reject unknown fields (a typo such as
``replicas`` for ``replicaCount`` is a 400, never silently ignored). Inside ``toolDefinition.tool`` the
MCP ``Tool`` fields are kept and anything else (the original README's ``"type": "http"``) is dropped, as
the original did, so existing payloads keep working.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

MAX_NAME_LENGTH = 52
"""Kubernetes names: ``{name}-service`` and the StatefulSet's ``{name}-<revision-hash>`` label stay within 63."""
NAME_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
IMAGE_TAG_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")
TOOL_PATH_RE = re.compile(r"^/[a-zA-Z0-9/_\-.]*$")
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
MAX_ARGS = 64
MAX_ARG_LENGTH = 4096

RESERVED_NAMES = frozenset({"toolgateway", "mcpgateway", "redis", "gateway", "toolrouter", "workload-sa", "kubernetes"})

Transport = Literal["stdio", "streamable-http"]


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def check_name(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"Name must be at most {MAX_NAME_LENGTH} characters (Kubernetes object names).")
    if not NAME_RE.match(value):
        raise ValueError(
            "Name must contain only lowercase letters, numbers and dashes, start with a letter and not end with a dash."
        )
    return value


class AdapterData(WireModel):
    """What a client sends to create or replace an adapter (an MCP server)."""

    name: str
    image_name: str | None = None
    image_version: str | None = None
    command: str | None = Field(default=None, min_length=1, max_length=1024)
    args: list[str] = Field(default_factory=list)
    transport: Transport | None = None
    url: str | None = Field(default=None, max_length=2048)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    replica_count: int = Field(default=1, ge=0, le=50)
    description: str = Field(default="", max_length=4096)
    use_workload_identity: bool = False
    required_roles: list[str] = Field(default_factory=list)

    _check_name = field_validator("name")(check_name)

    @field_validator("image_name")
    @classmethod
    def _check_image_name(cls, value: str | None) -> str | None:
        if value is not None and (".." in value or not IMAGE_NAME_RE.match(value)):
            raise ValueError(
                "ImageName must be a valid container image path component (lowercase alphanumeric, dots, "
                "dashes, slashes; no '..' or leading/trailing special chars)."
            )
        return value

    @field_validator("image_version")
    @classmethod
    def _check_image_version(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_TAG_RE.match(value):
            raise ValueError("ImageVersion must be a valid container image tag.")
        return value

    @field_validator("args")
    @classmethod
    def _check_args(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_ARGS:
            raise ValueError(f"At most {MAX_ARGS} arguments are allowed.")
        for arg in value:
            if len(arg) > MAX_ARG_LENGTH or any(c in arg for c in "\x00\r\n"):
                raise ValueError(f"Arguments must be at most {MAX_ARG_LENGTH} characters without NUL, CR or LF.")
        return value

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\x00\r\n"):
            raise ValueError("Command must not contain NUL, CR or LF.")
        return value

    @field_validator("environment_variables")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not ENV_NAME_RE.match(k) or len(k) > 256]
        if bad:
            raise ValueError(f"Invalid environment variable names: {', '.join(sorted(bad)[:5])}.")
        return value

    @field_validator("required_roles")
    @classmethod
    def _normalise_roles(cls, value: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for role in value:
            role = role.strip()
            if role and role.lower() not in seen:
                seen[role.lower()] = role
        return list(seen.values())

    @model_validator(mode="after")
    def _one_source(self) -> AdapterData:
        sources = [s for s in ("image", "command", "url") if self._has_source(s)]
        if len(sources) != 1:
            raise ValueError(
                "Give exactly one source: imageName with imageVersion (container image), command "
                "(a process), or url (an existing server)."
            )
        if self.image_name is not None and self.image_version is None:
            raise ValueError("imageVersion is required with imageName.")
        if self.image_version is not None and self.image_name is None:
            raise ValueError("imageName is required with imageVersion.")
        if self.command is None and (self.args or self.transport):
            raise ValueError("args and transport only apply to a command source.")
        if self.url is not None:
            _check_http_url(self.url)
        return self

    def _has_source(self, source: str) -> bool:
        if source == "image":
            return self.image_name is not None or self.image_version is not None
        return getattr(self, source) is not None

    @property
    def effective_transport(self) -> Transport | None:
        if self.command is None:
            return None
        return self.transport or "stdio"


def _check_http_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an absolute http:// or https:// URL.")
    if parts.username or parts.password:
        raise ValueError("url must not carry credentials; use environment variables or a secret store.")


class McpTool(BaseModel):
    """An MCP ``Tool`` as listed by the tool router. Unknown members are dropped (see module docstring)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=128)
    title: str | None = None
    description: str | None = Field(default=None, max_length=16_384)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="inputSchema")
    output_schema: dict[str, Any] | None = Field(default=None, alias="outputSchema")
    annotations: dict[str, Any] | None = None
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        if value.get("type") != "object":
            raise ValueError('must be a JSON Schema whose "type" is "object".')
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
        return value


class ToolDefinition(WireModel):
    tool: McpTool
    port: int = Field(default=8000, ge=1, le=65535)
    """Port of the tool's HTTP endpoint (the original defaulted to an unusable 443)."""
    path: str = Field(default="/score", max_length=512)

    @field_validator("port", mode="before")
    @classmethod
    def _port_message(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 65535:
            raise ValueError("Port must be between 1 and 65535.")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not TOOL_PATH_RE.match(value) or "/../" in value + "/" or value.endswith("/.."):
            raise ValueError(
                "Path must start with '/' and contain only alphanumeric characters, slashes, dashes, "
                "underscores, and dots (no '..' segments)."
            )
        return value


class ToolData(AdapterData):
    """What a client sends to register a tool: a workload plus its MCP tool definition."""

    tool_definition: ToolDefinition

    @model_validator(mode="after")
    def _tool_named_like_resource(self) -> ToolData:
        if self.tool_definition.tool.name != self.name:
            raise ValueError("toolDefinition.tool.name must equal the resource name.")
        return self


class ResourceMeta(WireModel):
    id: str
    created_by: str
    created_at: datetime
    last_updated_at: datetime


class AdapterResource(ResourceMeta, AdapterData):
    model_config = ConfigDict(extra="ignore")


class ToolResource(ResourceMeta, ToolData):
    model_config = ConfigDict(extra="ignore")


class AdapterStatus(WireModel):
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    available_replicas: int | None = None
    image: str = "Unknown"
    replica_status: str


def replica_status_text(ready: int | None, desired: int | None) -> str:
    """``Healthy`` when every desired replica is ready, else ``Degraded: x/y ready`` (original shape)."""
    ready_count, desired_count = ready or 0, desired or 0
    if ready_count == desired_count:
        return "Healthy"
    return f"Degraded: {ready_count}/{desired_count} ready"
