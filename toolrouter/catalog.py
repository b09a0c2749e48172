"""The tool catalog: what the gateway says is registered, polled over HTTP.

The router never reads the gateway's database. It polls ``GET {catalog_url}`` (with ``X-Gateway-Secret``
and ``If-None-Match``) every ``catalog_poll_seconds`` and keeps the last good :class:`Catalog` in memory.
A poll that fails keeps the previous catalog: a gateway restart must not empty every client's tool list.
Besides the registered tools it carries the adapters and the virtual servers built from them (issue #19);
an older gateway that sends neither list means none. The wire contract is documented in docs/toolrouter.md.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx
import mcp_types as types
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from gateway.models import NAME_RE, McpTool
from gateway.schemas import UnsafeSchema, check_tool_schema, safe_validator

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Gateway-Secret"


@dataclass(frozen=True)
class CatalogEntry:
    """One registered tool as the router needs it: the MCP definition, who may read it, where it runs."""

    tool: types.Tool
    created_by: str
    required_roles: tuple[str, ...]
    urls: tuple[str, ...]
    timeout_seconds: float | None
    validator: Draft202012Validator = field(compare=False, repr=False)
    """Compiled once per catalog version: validating arguments is on every call's path."""
    output_validator: Draft202012Validator | None = field(default=None, compare=False, repr=False)
    """The tool's ``outputSchema``, compiled; None when it declares none."""
    remote: bool = False
    """``urls`` is the tool's user-supplied ``url``: calls go through the SSRF guard (``gateway.netguard``).
    False for the gateway's own replicas and Services."""

    @property
    def name(self) -> str:
        return self.tool.name


@dataclass(frozen=True)
class AdapterEntry:
    """One adapter (an MCP server the gateway routes to) as a virtual server's member needs it."""

    name: str
    """Matches ``gateway.models.NAME_RE``, so ``{adapter}__{tool}`` splits at its first ``__``."""
    created_by: str
    required_roles: tuple[str, ...]
    urls: tuple[str, ...]
    """The MCP endpoints of its ready replicas (or its ``url``); empty when none is ready."""
    remote: bool = False
    """``urls`` is a user-supplied ``url``: connect through the SSRF guard, as for ``remote`` tools."""


@dataclass(frozen=True)
class Override:
    """What a virtual server changes about one member tool (keyed by the tool's original name)."""

    alias: str | None = None
    description: str | None = None


ToolSearch = Literal["off", "only", "beside"]
TOOL_SEARCH_MODES: tuple[ToolSearch, ...] = ("off", "only", "beside")


@dataclass(frozen=True)
class Member:
    """One member of a virtual server: an adapter's tools or one registered tool, filtered and renamed."""

    adapter: str | None = None
    tool: str | None = None
    """Exactly one of ``adapter`` and ``tool`` is set."""
    include: tuple[str, ...] | None = None
    """fnmatch globs (case-sensitive, whole name) on the original names of tools, prompts and resources;
    None or empty keeps all (the gateway sends ``[]`` for "no filter")."""
    exclude: tuple[str, ...] | None = None
    """Globs of the names to leave out; they win over ``include``."""
    read_only: bool = False
    """Keep only tools whose ``annotations.readOnlyHint`` is true."""
    prefix: str | None = None
    """An adapter member's names are ``{prefix}__{name}``; None: the adapter's name; ``""``: no prefix."""
    overrides: Mapping[str, Override] = field(default_factory=dict)
    """Per original tool name."""

    def keeps_name(self, name: str) -> bool:
        """Whether an original name (a tool's, a prompt's, a resource's) passes include and exclude."""
        if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not (self.exclude and any(fnmatch.fnmatchcase(name, p) for p in self.exclude))

    def keeps(self, tool: types.Tool) -> bool:
        """Whether ``tool`` (as its own server lists it, original name) passes include, exclude and readOnly."""
        if not self.keeps_name(tool.name):
            return False
        return not self.read_only or (tool.annotations is not None and tool.annotations.read_only_hint is True)

    @property
    def label(self) -> str:
        return f"adapter {self.adapter!r}" if self.adapter is not None else f"tool {self.tool!r}"


@dataclass(frozen=True)
class VirtualServer:
    """A named selection of adapters' and registered tools served by the router as one MCP server."""

    name: str
    created_by: str
    required_roles: tuple[str, ...]
    description: str | None
    members: tuple[Member, ...]
    tool_search: ToolSearch = "off"


@dataclass(frozen=True)
class Catalog:
    """An immutable snapshot; the poller swaps whole snapshots so readers never see a half update."""

    version: str = ""
    etag: str = ""
    """Sent back verbatim as ``If-None-Match`` (quotes included, as HTTP wants)."""
    entries: Mapping[str, CatalogEntry] = field(default_factory=dict)
    fingerprint: str = ""
    """Hash of what clients can observe (definitions and access), but not of ``urls``: replicas coming and
    going must not make every session re-list its tools."""
    adapters: Mapping[str, AdapterEntry] = field(default_factory=dict)
    servers: Mapping[str, VirtualServer] = field(default_factory=dict)

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)


def parse_catalog(body: Any, etag: str | None = None) -> Catalog:
    """Build a :class:`Catalog` from the endpoint's JSON body.

    A malformed item is skipped with a warning rather than failing the whole catalog: one bad record
    must not hide every other tool. A body that is not the documented object raises ``ValueError``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        raise ValueError('the catalog body must be an object with a "tools" list')
    entries: dict[str, CatalogEntry] = {}
    observable: list[Any] = []
    for item in body["tools"]:
        entry = _parse_entry(item)
        if entry is None:
            continue
        if entry.name in entries:
            logger.warning("tool catalog lists %r twice; keeping the first", entry.name)
            continue
        entries[entry.name] = entry
        observable.append(
            [
                entry.tool.model_dump(mode="json", by_alias=True, exclude_none=True),
                entry.created_by,
                sorted(r.lower() for r in entry.required_roles),
            ]
        )
    observable.sort(key=lambda row: row[0]["name"])
    adapters = _parse_list(body, "adapters", _parse_adapter)
    servers = _parse_list(body, "servers", _parse_server)
    fingerprinted: Any = observable
    if adapters or servers:
        # Without either list the hash is what it always was, so an older gateway's catalog does not look changed.
        fingerprinted = {
            "tools": observable,
            "adapters": sorted(
                [a.name, a.created_by, sorted(r.lower() for r in a.required_roles)] for a in adapters.values()
            ),
            "servers": sorted((_observable_server(s) for s in servers.values()), key=lambda row: str(row[0])),
        }
    fingerprint = hashlib.sha256(json.dumps(fingerprinted, sort_keys=True).encode()).hexdigest()
    version = str(body.get("version") or etag or fingerprint)
    return Catalog(
        version=version,
        etag=etag or version,
        entries=entries,
        fingerprint=fingerprint,
        adapters=adapters,
        servers=servers,
    )


def _parse_list(body: dict[str, Any], key: str, parse: Callable[[Any], Any]) -> dict[str, Any]:
    """The named entries of ``body[key]`` (adapters or servers); absent means none, duplicates keep the first."""
    items = body.get(key)
    if items is None:
        return {}
    if not isinstance(items, list):
        logger.warning("tool catalog %r is not a list; ignored", key)
        return {}
    parsed: dict[str, Any] = {}
    for item in items:
        entry = parse(item)
        if entry is None:
            continue
        if entry.name in parsed:
            logger.warning("tool catalog lists %s %r twice; keeping the first", key[:-1], entry.name)
            continue
        parsed[entry.name] = entry
    return parsed


def _strings(value: Any) -> tuple[str, ...] | None:
    """A list of strings as a tuple; None when it is anything else."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _access(item: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    created_by = item.get("createdBy")
    roles = _strings(item.get("requiredRoles") if item.get("requiredRoles") is not None else [])
    if not isinstance(created_by, str) or roles is None:
        return None
    return created_by, roles


def _parse_adapter(item: Any) -> AdapterEntry | None:
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        # The name is half of every exposed tool name ({adapter}__{tool}): only the gateway's own names are safe.
        logger.warning("tool catalog adapter %r has no valid name; skipped", name)
        return None
    assert isinstance(item, dict)
    access = _access(item)
    urls = _strings(item.get("urls") if item.get("urls") is not None else [])
    if access is None or urls is None:
        logger.warning("tool catalog adapter %r has an invalid createdBy, requiredRoles or urls; skipped", name)
        return None
    return AdapterEntry(
        name=name,
        created_by=access[0],
        required_roles=access[1],
        urls=tuple(u for u in urls if u.startswith(("http://", "https://"))),
        remote=item.get("remote") is True,
    )


def _parse_server(item: Any) -> VirtualServer | None:
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str) or not name:
        logger.warning("tool catalog server %r has no valid name; skipped", name)
        return None
    assert isinstance(item, dict)
    access = _access(item)
    members = item.get("members")
    tool_search = item.get("toolSearch", "off")
    description = item.get("description")
    if (
        access is None
        or not isinstance(members, list)
        or tool_search not in TOOL_SEARCH_MODES
        or not (description is None or isinstance(description, str))
    ):
        logger.warning(
            "tool catalog server %r has an invalid createdBy, requiredRoles, members, description or toolSearch; "
            "skipped",
            name,
        )
        return None
    parsed: list[Member] = []
    for index, member in enumerate(members):
        entry = _parse_member(member)
        if entry is None:
            # Leaving a member out only ever shows less than the server's owner asked for.
            logger.warning("tool catalog server %r: member %d is malformed; skipped", name, index)
            continue
        parsed.append(entry)
    return VirtualServer(
        name=name,
        created_by=access[0],
        required_roles=access[1],
        description=description,
        members=tuple(parsed),
        tool_search=tool_search,
    )


def _parse_member(item: Any) -> Member | None:
    if not isinstance(item, dict):
        return None
    adapter, tool = item.get("adapter"), item.get("tool")
    if (adapter is None) == (tool is None):
        return None
    if adapter is not None and not (isinstance(adapter, str) and NAME_RE.fullmatch(adapter)):
        return None
    if tool is not None and not (isinstance(tool, str) and tool):
        return None
    include, exclude = item.get("include"), item.get("exclude")
    include_globs = None if include is None else _strings(include)
    exclude_globs = None if exclude is None else _strings(exclude)
    read_only = item.get("readOnly", False)
    prefix = item.get("prefix")
    overrides = _parse_overrides(item.get("overrides"))
    if prefix is not None and not (isinstance(prefix, str) and (prefix == "" or NAME_RE.fullmatch(prefix))):
        return None
    if (
        (include is not None and include_globs is None)
        or (exclude is not None and exclude_globs is None)
        or not isinstance(read_only, bool)
        or overrides is None
    ):
        return None
    return Member(
        adapter=adapter,
        tool=tool,
        include=include_globs,
        exclude=exclude_globs,
        read_only=read_only,
        prefix=prefix,
        overrides=overrides,
    )


def _parse_overrides(value: Any) -> dict[str, Override] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return None
    overrides: dict[str, Override] = {}
    for original, override in value.items():
        if not isinstance(override, dict):
            return None
        alias, description = override.get("alias"), override.get("description")
        if not (alias is None or (isinstance(alias, str) and alias)):
            return None
        if not (description is None or isinstance(description, str)):
            return None
        overrides[str(original)] = Override(alias=alias, description=description)
    return overrides


def _observable_server(server: VirtualServer) -> list[Any]:
    return [
        server.name,
        server.created_by,
        sorted(r.lower() for r in server.required_roles),
        server.description,
        server.tool_search,
        [
            [
                m.adapter,
                m.tool,
                list(m.include) if m.include is not None else None,
                list(m.exclude) if m.exclude is not None else None,
                m.read_only,
                m.prefix,
                {k: [o.alias, o.description] for k, o in sorted(m.overrides.items())},
            ]
            for m in server.members
        ],
    ]


def _parse_entry(item: Any) -> CatalogEntry | None:
    if not isinstance(item, dict):
        logger.warning("tool catalog item is not an object; skipped")
        return None
    name = item.get("name")
    try:
        # The gateway already validated the definition; re-checking here keeps a bad record from
        # reaching clients (an invalid inputSchema would break every tools/call of that tool).
        definition = McpTool.model_validate(item.get("tool"))
        tool = types.Tool.model_validate(definition.model_dump(by_alias=True, exclude_none=True))
        # Schemas are user input: no remote $ref is ever fetched, patterns run in linear time (gateway.schemas).
        check_tool_schema(tool.input_schema)
        validator = safe_validator(tool.input_schema)
        output_validator = None
        if tool.output_schema is not None:
            check_tool_schema(tool.output_schema)
            output_validator = safe_validator(tool.output_schema)
    except (ValidationError, SchemaError, UnsafeSchema, TypeError) as exc:
        logger.warning("tool catalog item %r has an invalid tool definition; skipped: %s", name, exc)
        return None
    if name is not None and name != tool.name:
        logger.warning("tool catalog item %r names its tool %r; skipped", name, tool.name)
        return None
    timeout = item.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0):
        logger.warning("tool catalog item %r has an invalid timeoutSeconds; using the default", name)
        timeout = None
    return CatalogEntry(
        tool=tool,
        created_by=str(item.get("createdBy") or ""),
        required_roles=tuple(str(r) for r in item.get("requiredRoles") or [] if isinstance(r, str)),
        urls=tuple(u for u in item.get("urls") or [] if isinstance(u, str) and u.startswith(("http://", "https://"))),
        timeout_seconds=float(timeout) if timeout is not None else None,
        remote=item.get("remote") is True,
        validator=validator,
        output_validator=output_validator,
    )


ChangeListener = Callable[[Catalog], Awaitable[None]]


class CatalogPoller:
    """Keeps :attr:`current` fresh by polling the gateway and reports observable changes."""

    def __init__(
        self,
        http: httpx.AsyncClient | None,
        url: str,
        *,
        secret: str | None,
        interval_seconds: float,
        on_change: ChangeListener | None = None,
    ) -> None:
        self.http = http
        """The client polls go through; the router app opens one for its lifespan and sets it here."""
        self._url = url
        self._secret = secret
        self._interval = interval_seconds
        self._on_change = on_change
        self._failing = False
        self.current = Catalog()

    async def refresh(self) -> bool:
        """Poll once. True when the catalog changed in a way clients can observe; never raises."""
        headers = {"Accept": "application/json"}
        if self._secret:
            headers[SECRET_HEADER] = self._secret
        if self.current.etag:
            headers["If-None-Match"] = self.current.etag
        if self.http is None:
            raise RuntimeError("CatalogPoller.refresh() before an HTTP client was set (CatalogPoller.http)")
        try:
            response = await self.http.get(self._url, headers=headers)
            if response.status_code == 304:
                self._recovered()
                return False
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            catalog = parse_catalog(response.json(), response.headers.get("ETag"))
        except (httpx.HTTPError, ValueError) as exc:
            # Only the first failure of a streak is a warning: a gateway that is down for an hour must not
            # write 3600 lines. The secret is never part of the message.
            log = logger.debug if self._failing else logger.warning
            log("tool catalog poll failed (%s: %s); keeping the last good catalog", type(exc).__name__, exc)
            self._failing = True
            return False
        self._recovered()
        previous, self.current = self.current, catalog
        changed = catalog.fingerprint != previous.fingerprint
        if changed and self._on_change is not None:
            try:
                await self._on_change(catalog)
            except Exception:
                logger.exception("tool catalog change listener failed")
        return changed

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.refresh()
            await anyio.sleep(self._interval)

    def _recovered(self) -> None:
        if self._failing:
            logger.info("tool catalog poll recovered")
        self._failing = False
