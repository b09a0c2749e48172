"""The tool catalog: what the gateway says is registered, polled over HTTP.

The router never reads the gateway's database. It polls ``GET {catalog_url}`` (with ``X-Gateway-Secret``
and ``If-None-Match``) every ``catalog_poll_seconds`` and keeps the last good :class:`Catalog` in memory.
A poll that fails keeps the previous catalog: a gateway restart must not empty every client's tool list.
The wire contract is documented in docs/toolrouter.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import mcp_types as types
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from gateway.models import McpTool
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
class Catalog:
    """An immutable snapshot; the poller swaps whole snapshots so readers never see a half update."""

    version: str = ""
    etag: str = ""
    """Sent back verbatim as ``If-None-Match`` (quotes included, as HTTP wants)."""
    entries: Mapping[str, CatalogEntry] = field(default_factory=dict)
    fingerprint: str = ""
    """Hash of what clients can observe (definitions and access), but not of ``urls``: replicas coming and
    going must not make every session re-list its tools."""

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
    fingerprint = hashlib.sha256(json.dumps(observable, sort_keys=True).encode()).hexdigest()
    version = str(body.get("version") or etag or fingerprint)
    return Catalog(version=version, etag=etag or version, entries=entries, fingerprint=fingerprint)


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
