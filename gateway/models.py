"""Wire schemas of the control plane, with the original API's JSON field names.

Unknown-field policy: resource bodies and ``toolDefinition`` reject unknown fields (a typo such as
``replicas`` for ``replicaCount`` is a 400, never silently ignored). Inside ``toolDefinition.tool`` the
MCP ``Tool`` fields are kept and anything else (the original README's ``"type": "http"``) is dropped, as
the original did, so existing payloads keep working.

Text policy: every string is a :class:`SafeText` (and every free-form JSON value goes through
:func:`check_json_value`), so nothing that could not be written back as JSON and UTF-8 is accepted, and
types are strict (``"replicaCount": true`` or ``"3"`` is a 400, not 1 or 3). The limits below are part of
the API: the OpenAPI document carries them as ``maxLength``, ``maxItems``, ``maxProperties`` and
``pattern``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from jsonschema.exceptions import SchemaError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from gateway.names import MAX_NAME_LENGTH
from gateway.schemas import UnsafeSchema, check_tool_schema

NAME_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
IMAGE_TAG_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")
TOOL_PATH_RE = re.compile(r"^/[a-zA-Z0-9/_\-.]*$")
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
MAX_ARGS = 64
MAX_ARG_LENGTH = 4096
MAX_COMMAND_LENGTH = 1024
MAX_URL_LENGTH = 2048
MAX_IMAGE_NAME_LENGTH = 255
MAX_IMAGE_TAG_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 4096
MAX_ROLES = 64
MAX_ROLE_LENGTH = 128
MAX_ENV_VARS = 256
MAX_ENV_NAME_LENGTH = 256
MAX_ENV_VALUE_LENGTH = 32 * 1024
MAX_TOOL_NAME_LENGTH = 128
MAX_TOOL_TITLE_LENGTH = 1024
MAX_TOOL_DESCRIPTION_LENGTH = 16_384
MAX_TOOL_PATH_LENGTH = 512
MAX_USER_ID_LENGTH = 1024
"""The creator's id (``createdBy``) is stored with the record, so it must be safe text of this length."""
MAX_JSON_DEPTH = 32
"""Objects and arrays nested in one free-form value (``inputSchema``, ``outputSchema``, ``annotations``,
``_meta``); the top-level object is level 1."""
MAX_JSON_BYTES = 128 * 1024
"""Size of one free-form value written as compact UTF-8 JSON."""
MAX_JSON_KEY_LENGTH = 1024

Transport = Literal["stdio", "streamable-http", "sse"]
"""How the gateway talks to an adapter's server: ``stdio`` (a ``command``, through the bridge),
``streamable-http`` (a ``command`` that serves ``$PORT`` itself) or ``sse`` (the 2024-11-05 HTTP+SSE transport,
a ``command`` or a ``url``, through the bridge, which serves it to clients as Streamable HTTP)."""
MAX_MCP_PATH_LENGTH = 512
DEFAULT_MCP_PATH = "/mcp"
DEFAULT_SSE_PATH = "/sse"


# ----- text that survives a round trip -----------------------------------------------------------------
# A lone surrogate (JSON "\ud800") is a valid Python string that no UTF-8 encoder accepts: a record holding
# one can be stored but never listed again. C0/C1 control characters make no sense in a name, a role, an
# argument or a command and corrupt logs, headers and process arguments; tab and line breaks are allowed
# only in free text (descriptions, environment variable values).
_SURROGATES = "\ud800-\udfff"
LINE_FORBIDDEN = re.compile(f"[\x00-\x1f\x7f-\x9f{_SURROGATES}]")
TEXT_FORBIDDEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES}]")
LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\ud800-\udfff]*$"
""":data:`LINE_FORBIDDEN` as the OpenAPI document states it (ECMA-262 syntax)."""
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]*$"
""":data:`TEXT_FORBIDDEN` as the OpenAPI document states it."""


def refuse_unsafe_characters(value: str, *, multiline: bool = False) -> None:
    """Raise ``ValueError`` naming the first character that cannot round-trip or has no place here."""
    found = (TEXT_FORBIDDEN if multiline else LINE_FORBIDDEN).search(value)
    if found is None:
        return
    char, at = found.group(), found.start()
    if "\ud800" <= char <= "\udfff":
        raise ValueError(f"contains an unpaired surrogate (U+{ord(char):04X}) at character {at}; it is not UTF-8")
    where = "" if multiline else "; this is a single line of text"
    raise ValueError(f"contains the control character U+{ord(char):04X} at character {at}{where}")


def is_safe_text(value: str, *, multiline: bool = False) -> bool:
    return (TEXT_FORBIDDEN if multiline else LINE_FORBIDDEN).search(value) is None


def shown(value: str, limit: int = 120) -> str:
    """``value`` as it may appear in a message or a log line: unsafe characters escaped, cut to ``limit``."""
    if not is_safe_text(value):
        value = json.dumps(value)[1:-1]
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(frozen=True)
class SafeText:
    """``Annotated[StrictStr, SafeText(...)]``: a string that round-trips through JSON and UTF-8.

    It checks the length, then the characters (:func:`refuse_unsafe_characters`), then an optional
    ``shape`` (a full match), and tells the OpenAPI document the same as ``maxLength`` and ``pattern``.
    """

    max_length: int
    multiline: bool = False
    min_length: int = 0
    shape: re.Pattern[str] | None = None
    shape_message: str = ""

    def check(self, value: str) -> str:
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        if len(value) < self.min_length:
            raise ValueError(f"must be at least {self.min_length} character{'s' if self.min_length > 1 else ''}")
        refuse_unsafe_characters(value, multiline=self.multiline)
        if self.shape is not None and not self.shape.fullmatch(value):
            raise ValueError(self.shape_message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_length
        if self.min_length:
            json_schema["minLength"] = self.min_length
        if self.shape is not None:
            json_schema["pattern"] = self.shape.pattern
        else:
            json_schema["pattern"] = TEXT_PATTERN if self.multiline else LINE_PATTERN
        return json_schema


Name = Annotated[
    StrictStr,
    SafeText(
        MAX_NAME_LENGTH,
        shape=NAME_RE,
        shape_message="must contain only lowercase letters, numbers and dashes, start with a letter and not end "
        "with a dash",
    ),
]
PREFIX_RE = re.compile(rf"^$|{NAME_RE.pattern}")
NamePrefix = Annotated[
    StrictStr,
    SafeText(
        MAX_NAME_LENGTH,
        shape=PREFIX_RE,
        shape_message="must be empty (no prefix) or a name: lowercase letters, numbers and dashes, starting with a "
        "letter and not ending with a dash",
    ),
]
"""What a virtual server lists an adapter member's names under (``{prefix}__{name}``); empty: no prefix."""
Role = Annotated[StrictStr, SafeText(MAX_ROLE_LENGTH)]
Argument = Annotated[StrictStr, SafeText(MAX_ARG_LENGTH)]
Command = Annotated[StrictStr, SafeText(MAX_COMMAND_LENGTH, min_length=1)]
Url = Annotated[StrictStr, SafeText(MAX_URL_LENGTH)]
ImageName = Annotated[
    StrictStr,
    SafeText(
        MAX_IMAGE_NAME_LENGTH,
        shape=IMAGE_NAME_RE,
        shape_message="must be a container image path (lowercase letters and digits, separated by single dots, "
        "dashes, underscores or slashes)",
    ),
]
ImageTag = Annotated[
    StrictStr, SafeText(MAX_IMAGE_TAG_LENGTH, shape=IMAGE_TAG_RE, shape_message="must be a valid container image tag")
]
EnvValue = Annotated[StrictStr, SafeText(MAX_ENV_VALUE_LENGTH, multiline=True)]
Description = Annotated[StrictStr, SafeText(MAX_DESCRIPTION_LENGTH, multiline=True)]
ToolName = Annotated[StrictStr, SafeText(MAX_TOOL_NAME_LENGTH, min_length=1)]
ToolTitle = Annotated[StrictStr, SafeText(MAX_TOOL_TITLE_LENGTH)]
ToolDescription = Annotated[StrictStr, SafeText(MAX_TOOL_DESCRIPTION_LENGTH, multiline=True)]
CREATOR_ID = SafeText(MAX_USER_ID_LENGTH)
UserId = Annotated[StrictStr, CREATOR_ID]
McpPath = Annotated[
    StrictStr,
    SafeText(
        MAX_MCP_PATH_LENGTH,
        shape=re.compile(r"^/[!$&'()*+,;=:@~._A-Za-z0-9/-]*$"),
        shape_message="must be a URL path: start with '/', then letters, digits and -._~!$&'()*+,;=:@/ only (no "
        "spaces, no percent-encoding, no query '?' or fragment '#')",
    ),
]
ToolPath = Annotated[
    StrictStr,
    SafeText(
        MAX_TOOL_PATH_LENGTH,
        shape=TOOL_PATH_RE,
        shape_message="must start with '/' and contain only letters, digits, slashes, dashes, underscores and dots",
    ),
]


def check_env_names(variables: dict[str, str]) -> dict[str, str]:
    """The names of ``environmentVariables``: one message for the whole map, naming (escaped) bad names."""
    bad = [name for name in variables if not _is_env_name(name)]
    if bad:
        names = ", ".join(shown(name, 40) for name in sorted(bad)[:5])
        raise ValueError(
            f"has invalid variable names ({names}): a name is at most {MAX_ENV_NAME_LENGTH} characters of letters, "
            "digits, '-', '.' and '_', and does not start with a digit"
        )
    return variables


def _is_env_name(name: str) -> bool:
    return len(name) <= MAX_ENV_NAME_LENGTH and ENV_NAME_RE.fullmatch(name) is not None


EnvironmentVariables = Annotated[
    dict[StrictStr, EnvValue],
    Field(
        max_length=MAX_ENV_VARS,
        json_schema_extra={"propertyNames": {"maxLength": MAX_ENV_NAME_LENGTH, "pattern": ENV_NAME_RE.pattern}},
    ),
    AfterValidator(check_env_names),
]


# ----- free-form JSON (a tool's schemas, annotations and _meta) ------------------------------------------
JsonPointer = tuple["JsonPointer", str] | None
"""Where a value sits, as a chain of (parent, token): built in O(1) per value, rendered only for a message."""


def check_json_value(value: Any) -> Any:
    """Refuse a free-form JSON value that could not be written back, or is too deep or too large.

    Walks iteratively (a value nested a thousand levels deep must not exhaust the stack) and checks every
    object key (a single line), every string (free text), that numbers are finite and that nothing but
    JSON types occurs; then the depth (:data:`MAX_JSON_DEPTH`) and size (:data:`MAX_JSON_BYTES`).
    """
    pending: list[tuple[Any, int, JsonPointer]] = [(value, 1, None)]
    while pending:
        item, depth, pointer = pending.pop()
        if isinstance(item, dict | list) and depth > MAX_JSON_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels (at {_render(pointer)})")
        pending.extend((child, depth + 1, where) for child, where in _json_children(item, pointer))
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_JSON_BYTES} are allowed")
    return value


def _json_children(item: Any, pointer: JsonPointer) -> Iterator[tuple[Any, JsonPointer]]:
    if isinstance(item, dict):
        for key, child in item.items():
            _check_json_key(key, pointer)
            yield child, (pointer, key.replace("~", "~0").replace("/", "~1"))
    elif isinstance(item, list):
        for index, child in enumerate(item):
            yield child, (pointer, str(index))
    else:
        _check_json_scalar(item, pointer)


def _check_json_key(key: Any, pointer: JsonPointer) -> None:
    if not isinstance(key, str):
        raise ValueError(f"has a key that is not a string (at {_render(pointer)})")
    if len(key) > MAX_JSON_KEY_LENGTH:
        raise ValueError(f"has a key longer than {MAX_JSON_KEY_LENGTH} characters (at {_render(pointer)})")
    try:
        refuse_unsafe_characters(key)
    except ValueError as exc:
        raise ValueError(f"has a key that {exc} (at {_render(pointer)})") from None


def _check_json_scalar(item: Any, pointer: JsonPointer) -> None:
    if isinstance(item, str):
        try:
            refuse_unsafe_characters(item, multiline=True)
        except ValueError as exc:
            raise ValueError(f"has a string that {exc} (at {_render(pointer)})") from None
    elif isinstance(item, float) and not math.isfinite(item):
        raise ValueError(f"has a number that is not finite (at {_render(pointer)}); JSON has no NaN or Infinity")
    elif item is not None and not isinstance(item, bool | int | float):
        raise ValueError(f"has a {type(item).__name__}, which is not a JSON value (at {_render(pointer)})")


def _render(pointer: JsonPointer) -> str:
    tokens: list[str] = []
    while pointer is not None:
        pointer, token = pointer
        tokens.append(token)
    return shown("/" + "/".join(reversed(tokens)), 200) if tokens else "the top level"


JsonObject = Annotated[dict[StrictStr, Any], AfterValidator(check_json_value)]
FREE_FORM_LIMITS = (
    f"Free-form JSON: at most {MAX_JSON_DEPTH} levels of nesting and {MAX_JSON_BYTES} bytes as compact JSON; "
    f"keys are single lines of at most {MAX_JSON_KEY_LENGTH} characters; no control characters other than "
    "tab and line breaks in strings; finite numbers only."
)


class WireModel(BaseModel):
    # Strict: a JSON true is not the replica count 1, nor "3" the number 3.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)


class ResourceData(WireModel):
    """What every kind of resource has: a name unique across kinds, and the roles that may read it."""

    name: Name
    if TYPE_CHECKING:  # a field of each kind, declared there (its place among the fields is part of the API)
        required_roles: list[str]


def normalised_roles(value: list[str]) -> list[str]:
    """``requiredRoles`` trimmed, without blanks and without case-insensitive duplicates (first spelling kept)."""
    seen: dict[str, str] = {}
    for role in value:
        role = role.strip()
        if role and role.lower() not in seen:
            seen[role.lower()] = role
    return list(seen.values())


class AdapterData(ResourceData):
    """What a client sends to create or replace an adapter (an MCP server)."""

    example: ClassVar[dict[str, Any]] = {
        "name": "weather",
        "url": "http://127.0.0.1:8001/mcp",
        "description": "Weather forecasts (an MCP server that already runs)",
        "requiredRoles": ["mcp.engineer"],
    }
    """A body that creates a real adapter: the OpenAPI document's example."""

    name: Name
    image_name: ImageName | None = None
    image_version: ImageTag | None = None
    command: Command | None = None
    args: list[Argument] = Field(default_factory=list, max_length=MAX_ARGS)
    transport: Transport | None = None
    url: Url | None = None
    path: McpPath | None = Field(
        default=None,
        description="Where the server serves MCP, for an image or a command of transport streamable-http "
        "(default /mcp), or its SSE endpoint for a command of transport sse (default /sse). Not with a url "
        "(the URL carries its path) nor with transport stdio (the bridge serves /mcp).",
    )
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    replica_count: int = Field(default=1, ge=0, le=50)
    description: Description = ""
    use_workload_identity: bool = False
    required_roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)

    @field_validator("required_roles")
    @classmethod
    def _normalise_roles(cls, value: list[str]) -> list[str]:
        return normalised_roles(value)

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
        if self.command is None and self.args:
            raise ValueError("args only apply to a command source.")
        if self.url is not None and self.transport not in (None, "sse"):
            raise ValueError(
                "transport with a url can only be 'sse' (a server that speaks only the 2024-11-05 HTTP+SSE "
                "transport); without it the url is called as Streamable HTTP."
            )
        if self.command is None and self.url is None and self.transport is not None:
            raise ValueError(
                "transport does not apply to a container image, which must serve Streamable HTTP on its path. "
                "For an image that speaks only HTTP+SSE, run it elsewhere and register its SSE URL as a url "
                "adapter with transport 'sse', or give the command that starts it (transport 'sse')."
            )
        return self

    @field_validator("path")
    @classmethod
    def _check_mcp_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if "/../" in value + "/" or "/./" in value + "/" or "//" in value:
            raise ValueError("must not contain '.' or '..' segments or empty segments ('//')")
        # command, transport and url are declared before path, so they are known here (when valid).
        if info.data.get("url") is not None:
            raise ValueError("does not apply to a url source: the URL already carries its path")
        if info.data.get("command") is not None and info.data.get("transport") in (None, "stdio"):
            raise ValueError("does not apply to transport stdio: the bridge serves the server at /mcp")
        return value

    def _has_source(self, source: str) -> bool:
        if source == "image":
            return self.image_name is not None or self.image_version is not None
        return getattr(self, source) is not None

    @property
    def effective_transport(self) -> Transport | None:
        if self.command is None:
            return self.transport if self.url is not None else None
        return self.transport or "stdio"

    @property
    def bridged(self) -> bool:
        """True when the gateway's bridge serves this adapter (transport stdio or sse) at ``/mcp``."""
        return self.effective_transport in ("stdio", "sse")

    @property
    def serving_path(self) -> str:
        """The path the data plane calls on a replica: the bridge's ``/mcp``, else the server's own path."""
        if self.bridged:
            return DEFAULT_MCP_PATH
        return self.path or DEFAULT_MCP_PATH

    @property
    def sse_upstream(self) -> str | None:
        """Transport sse: what the bridge connects to, the url, or the SSE path on the command's own port."""
        if self.effective_transport != "sse":
            return None
        return self.url if self.url is not None else self.path or DEFAULT_SSE_PATH


class McpTool(BaseModel):
    """An MCP ``Tool`` as listed by the tool router. Unknown members are dropped (see module docstring)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: ToolName
    title: ToolTitle | None = None
    description: ToolDescription | None = None
    input_schema: JsonObject = Field(
        default_factory=lambda: {"type": "object"}, alias="inputSchema", description=FREE_FORM_LIMITS
    )
    output_schema: JsonObject | None = Field(default=None, alias="outputSchema", description=FREE_FORM_LIMITS)
    annotations: JsonObject | None = Field(default=None, description=FREE_FORM_LIMITS)
    meta: JsonObject | None = Field(default=None, alias="_meta", description=FREE_FORM_LIMITS)

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        if value.get("type") != "object":
            raise ValueError('must be a JSON Schema whose "type" is "object".')
        try:
            check_tool_schema(value)
        except SchemaError as exc:
            raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
        except UnsafeSchema as exc:
            raise ValueError(f"cannot be applied safely: {exc}") from None
        return value


class ToolDefinition(WireModel):
    tool: McpTool
    port: int = Field(default=8000, ge=1, le=65535)
    """Port of the tool's HTTP endpoint (the original defaulted to an unusable 443)."""
    path: ToolPath = "/score"

    @field_validator("port", mode="before")
    @classmethod
    def _port_message(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 65535:
            raise ValueError("Port must be between 1 and 65535.")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if "/../" in value + "/":
            raise ValueError("must not contain '..' segments")
        return value


class ToolData(AdapterData):
    """What a client sends to register a tool: a workload plus its MCP tool definition."""

    example: ClassVar[dict[str, Any]] = {
        "name": "forecast",
        "url": "http://127.0.0.1:8002/score",
        "description": "Tomorrow's forecast for a city (an HTTP tool that already runs)",
        "requiredRoles": ["mcp.engineer"],
        "toolDefinition": {
            "tool": {
                "name": "forecast",
                "description": "Forecast for a city",
                "inputSchema": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "maxLength": 100}},
                    "required": ["city"],
                },
            },
            "port": 8002,
            "path": "/score",
        },
    }

    tool_definition: ToolDefinition

    @model_validator(mode="after")
    def _tool_named_like_resource(self) -> ToolData:
        if self.tool_definition.tool.name != self.name:
            raise ValueError("toolDefinition.tool.name must equal the resource name.")
        if self.path is not None:
            raise ValueError("A tool's path is toolDefinition.path; path applies to adapters.")
        if self.transport == "sse":
            raise ValueError("transport 'sse' applies to adapters; a tool is called over plain HTTP.")
        return self


class ResourceMeta(WireModel):
    id: Name
    created_by: UserId
    # Records come back from the stores as JSON, where a time is an ISO 8601 string.
    created_at: datetime = Field(strict=False)
    last_updated_at: datetime = Field(strict=False)


class AdapterResource(ResourceMeta, AdapterData):
    model_config = ConfigDict(extra="ignore")


class ToolResource(ResourceMeta, ToolData):
    model_config = ConfigDict(extra="ignore")


# ----- virtual servers ---------------------------------------------------------------------------------
MAX_MEMBERS = 100
MAX_PATTERNS = 64
"""Entries of one member's ``include`` or of its ``exclude``."""
MAX_PATTERN_LENGTH = MAX_TOOL_NAME_LENGTH
MAX_OVERRIDES = 256
MAX_ALIAS_LENGTH = 64
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
META_TOOLS = ("search_tools", "call_tool")
"""The tool router's meta-tools on a virtual server whose ``toolSearch`` is ``only`` or ``beside``."""
EXPOSED_NAME_SEPARATOR = "__"
"""An adapter member's tool is exposed as ``{adapter}__{tool}``. Adapter names cannot contain ``_``, so the
first ``__`` splits such a name unambiguously; aliases may not contain it, so no alias looks like one."""

ToolSearch = Literal["off", "only", "beside"]
"""``off``: the members' tools are listed; ``only``: only the meta-tools ``search_tools`` and ``call_tool``;
``beside``: both."""
ToolPattern = Annotated[StrictStr, SafeText(MAX_PATTERN_LENGTH, min_length=1)]
ToolAlias = Annotated[
    StrictStr,
    SafeText(
        MAX_ALIAS_LENGTH,
        min_length=1,
        shape=ALIAS_RE,
        shape_message="must be 1 to 64 letters, digits, '_' or '-' (the tool names OpenAI-compatible clients accept)",
    ),
]


def _unset(value: Any) -> bool:
    """Optional fields of a virtual server that are left out of its JSON when not given."""
    return value is None


class ToolOverride(WireModel):
    """How a virtual server shows one of a member's tools.

    ``alias`` keeps to ``^[A-Za-z0-9_-]{1,64}$`` although MCP allows tool names of up to 128 characters
    including ``.`` (``^[A-Za-z0-9_.-]{1,128}$``): clients that hand MCP tools to an OpenAI-compatible model
    as functions (most agent frameworks and IDEs do) are refused names outside the function-name rule
    ``^[a-zA-Z0-9_-]{1,64}$``, so an alias that MCP allows could make the whole server unusable there. The
    point of an alias is a name every client can use.
    """

    alias: ToolAlias | None = Field(
        default=None,
        exclude_if=_unset,
        description="The name the virtual server lists the tool under, instead of `{adapter}__{tool}` (or the "
        "registered tool's own name); no `__`, not `search_tools` or `call_tool`, unique within the server",
    )
    description: ToolDescription | None = Field(
        default=None, exclude_if=_unset, description="Replaces the tool's own description"
    )

    @field_validator("alias")
    @classmethod
    def _plain_alias(cls, value: str | None) -> str | None:
        if value is not None and EXPOSED_NAME_SEPARATOR in value:
            raise ValueError(
                f"must not contain '{EXPOSED_NAME_SEPARATOR}', which separates the adapter and the tool in the "
                "names the gateway gives adapter tools ({adapter}__{tool})"
            )
        return value


def _check_tool_names(overrides: dict[str, ToolOverride]) -> dict[str, ToolOverride]:
    """The keys of ``overrides``: tool names (one message for the map, naming the bad keys escaped). Checked
    here rather than by a key type, whose pattern would reach the OpenAPI document as ``patternProperties``
    with a pattern that not every JSON Schema validator compiles (it names surrogates)."""
    bad = [name for name in overrides if not 1 <= len(name) <= MAX_TOOL_NAME_LENGTH or not is_safe_text(name)]
    if bad:
        names = ", ".join(f"'{shown(name, 40)}'" for name in sorted(bad)[:5])
        raise ValueError(
            f"has invalid tool names ({names}): a tool name is 1 to {MAX_TOOL_NAME_LENGTH} characters on one line"
        )
    return overrides


class ServerMember(WireModel):
    """One adapter, or one registered tool, that a virtual server shows, and which of its tools."""

    adapter: Name | None = Field(
        default=None, exclude_if=_unset, description="An adapter's name: its tools (filtered) become the server's"
    )
    tool: Name | None = Field(default=None, exclude_if=_unset, description="A registered tool's name")
    include: list[ToolPattern] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="Glob patterns (`*`, `?`, `[abc]`; case-sensitive, whole name) of the tool, resource and "
        "prompt names to keep; empty keeps all",
    )
    exclude: list[ToolPattern] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="Glob patterns of the names to leave out; they win over `include`",
    )
    read_only: bool = Field(
        default=False, description="Keep only the tools whose annotations say `readOnlyHint: true`"
    )
    prefix: NamePrefix | None = Field(
        default=None,
        exclude_if=_unset,
        description="What an adapter member's tools and prompts are listed under: `{prefix}__{name}`; by default "
        "the adapter's name; `\"\"` lists them under their own names (a server of one adapter, or adapters "
        "whose names do not collide; a name two members list is the first member's)",
    )
    overrides: Annotated[dict[StrictStr, ToolOverride], AfterValidator(_check_tool_names)] = Field(
        default_factory=dict,
        max_length=MAX_OVERRIDES,
        description="Per original tool name: an `alias` and/or a `description`",
        json_schema_extra={"propertyNames": {"minLength": 1, "maxLength": MAX_TOOL_NAME_LENGTH}},
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServerMember:
        if (self.adapter is None) == (self.tool is None):
            raise ValueError("Give exactly one of adapter (an adapter's name) or tool (a registered tool's name).")
        if self.tool is not None and self.prefix is not None:
            raise ValueError("prefix applies to an adapter member's names; a registered tool keeps its own name.")
        if self.tool is not None:
            others = sorted(name for name in self.overrides if name != self.tool)
            if others:
                raise ValueError(
                    f"overrides of a tool member can only name the tool itself ('{self.tool}'), not "
                    + ", ".join(f"'{shown(name, 40)}'" for name in others[:3])
                )
        return self

    @property
    def source(self) -> tuple[Literal["adapter", "tool"], str]:
        """The member's kind and name."""
        if self.adapter is not None:
            return "adapter", self.adapter
        assert self.tool is not None  # _one_source
        return "tool", self.tool


class ServerData(ResourceData):
    """What a client sends to create or replace a virtual server: a named selection of adapters' and
    registered tools' tools, served by the tool router at ``/servers/{name}/mcp``. It runs nothing itself."""

    example: ClassVar[dict[str, Any]] = {
        "name": "dev-tools",
        "description": "Weather for the dev team",
        "requiredRoles": ["mcp.engineer"],
        "members": [
            {
                "adapter": "weather",
                "include": ["get_*", "forecast*"],
                "exclude": ["delete_*"],
                "overrides": {"get_forecast": {"alias": "forecast_now", "description": "Forecast for a city"}},
            },
            {"tool": "forecast", "overrides": {"forecast": {"description": "Tomorrow's forecast"}}},
        ],
        "toolSearch": "off",
    }
    """Members named like the adapter and tool examples: the OpenAPI document's example."""

    name: Name
    description: Description = ""
    required_roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    members: list[ServerMember] = Field(default_factory=list, max_length=MAX_MEMBERS)
    tool_search: ToolSearch = Field(
        default="off",
        description="`off`: list the members' tools; `only`: list only the meta-tools `search_tools` and "
        "`call_tool`; `beside`: both",
    )

    @field_validator("required_roles")
    @classmethod
    def _normalise_roles(cls, value: list[str]) -> list[str]:
        return normalised_roles(value)


class ServerResource(ResourceMeta, ServerData):
    model_config = ConfigDict(extra="ignore")


ReplicaPhase = Literal["Starting", "Ready", "Updating", "Degraded", "Failing", "Stopped"]


class ReplicaStatus(WireModel):
    """One replica: whether it serves, and if not, why."""

    id: str = Field(description="Replica id: `name-0`, ... (the pod name on Kubernetes; the name for a `url`)")
    ready: bool = Field(description="It answers MCP (local and `url`) or passes its readiness probe (Kubernetes)")
    restarts: int = 0
    last_exit_code: int | None = None
    last_error: str | None = Field(
        default=None,
        description="Why it does not serve: the probe failure, or the exit code and last output lines, or the "
        "container's waiting reason (CrashLoopBackOff, ImagePullBackOff, ...)",
    )
    since: datetime | None = Field(default=None, description="When `ready` last changed")
    sessions: int | None = Field(default=None, description="Live stdio sessions (stdio adapters, local runtime)")
    max_sessions: int | None = Field(default=None, description="The most stdio sessions the replica keeps")


class AdapterStatus(WireModel):
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    available_replicas: int | None = None
    image: str = "Unknown"
    replica_status: str = Field(description="`Healthy` when every desired replica is ready, else `Degraded: x/y ready`")
    phase: ReplicaPhase = Field(
        description="Starting, Ready, Updating (a rollout is in progress), Degraded (some ready), Failing (none "
        "ready and a replica failed: exited, crash-looping, not answering MCP) or Stopped (replicaCount 0)"
    )
    last_error: str | None = Field(default=None, description="The most relevant replica error, if any")
    replicas: list[ReplicaStatus] = Field(default_factory=list)


class FieldError(BaseModel):
    field: str = Field(
        description="Where: a dotted path into the body (`toolDefinition.tool.name`, `requiredRoles.0`), a "
        "parameter's name, or `body` for the body as a whole (malformed JSON, duplicate keys, rules across fields)"
    )
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response of the REST API."""

    model_config = ConfigDict(title="Problem", populate_by_name=True)

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = Field(default=None, alias="requestId")
    errors: list[FieldError] | None = Field(default=None, description="One entry per invalid field (400 only)")


def replica_status_text(ready: int | None, desired: int | None) -> str:
    """``Healthy`` when every desired replica is ready, else ``Degraded: x/y ready`` (original shape)."""
    ready_count, desired_count = ready or 0, desired or 0
    if ready_count == desired_count:
        return "Healthy"
    return f"Degraded: {ready_count}/{desired_count} ready"
