"""Virtual servers (issue #19): what one caller sees of a server, and where each name it sees leads.

A virtual server is a list of members, each an adapter (its own ``tools/list``, fetched upstream) or one
registered tool (its catalog definition). :func:`tool_view` builds, for one caller, the ordered map from each
exposed tool name to its member and original definition; ``tools/list`` lists it and ``tools/call`` resolves
through it, so a name that the caller could not list cannot be called either.

The rules, applied in member order:

- a member the caller may not read (the adapter's or the tool record's ``createdBy``/``requiredRoles``,
  ``gateway.auth.rbac.can_read``) is left out, as is one that is missing from the catalog;
- ``include`` / ``exclude`` (fnmatch globs on the original names; empty: no filter) and ``readOnly``
  (``readOnlyHint``) filter each member's tools, and the globs its prompts and resources (by name);
- an adapter's tool is exposed as ``{prefix}__{tool}`` (the prefix is the adapter's name unless the member
  gives another, or ``""`` for none) and a registered tool under its own name, unless an override gives it
  an ``alias``; an override's ``description`` replaces the description;
- when two members expose the same name the first keeps it and the later one is dropped (logged);
- an adapter that does not answer is left out (logged) rather than failing the list.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp_types as types
import re2

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from toolrouter.catalog import AdapterEntry, Catalog, CatalogEntry, Member, VirtualServer
from toolrouter.upstream import AdapterClient, UpstreamError

logger = logging.getLogger(__name__)

SEPARATOR = "__"
"""Between an adapter's name and its tool's: adapter names never contain it (``gateway.models.NAME_RE``)."""


@dataclass(frozen=True)
class ExposedTool:
    """One tool of a virtual server as a caller sees it, and what it runs."""

    tool: types.Tool
    """As listed to the caller: the exposed name, the override's description."""
    original: types.Tool
    """As its own server defines it (the original name is what is called)."""
    member: Member
    entry: CatalogEntry | None = None
    """The registered tool, for a tool member."""
    adapter: AdapterEntry | None = None
    """The adapter, for an adapter member."""


CATALOG_SERVER = "/mcp"
"""The name of :func:`catalog_server` (in log lines only: not a valid server name, so it is no one's)."""


def catalog_server(catalog: Catalog) -> VirtualServer:
    """``/mcp`` as a virtual server: every registered tool under its own name, in name order (``/mcp``'s
    order), then every adapter, in name order, with no filters. Its callers' access is per member."""
    members = [Member(tool=name) for name in sorted(catalog.entries)]
    members.extend(Member(adapter=name) for name in sorted(catalog.adapters))
    return VirtualServer(CATALOG_SERVER, "", (), None, tuple(members))


def readable_server(catalog: Catalog, name: str, principal: Principal | None) -> VirtualServer | None:
    """The server named ``name`` when ``principal`` may read it; None when it does not exist or they may not."""
    server = catalog.servers.get(name)
    if server is None or not can_read(principal, server.created_by, server.required_roles):
        return None
    return server


def readable_adapter(catalog: Catalog, member: Member, principal: Principal) -> AdapterEntry | None:
    if member.adapter is None:
        return None
    adapter = catalog.adapters.get(member.adapter)
    if adapter is None or not can_read(principal, adapter.created_by, adapter.required_roles):
        return None
    return adapter


def exposed_name(member: Member, original: str) -> str:
    override = member.overrides.get(original)
    if override is not None and override.alias:
        return override.alias
    return prefixed(member, original)


def prefixed(member: Member, original: str) -> str:
    """An adapter member's tool or prompt name as listed: ``{prefix}__{name}`` (the prefix is the adapter's
    name unless the member says otherwise; ``""``: the name as it is); a registered tool's own name."""
    if member.adapter is None:
        return original
    prefix = member.adapter if member.prefix is None else member.prefix
    return f"{prefix}{SEPARATOR}{original}" if prefix else original


def _exposed_definition(member: Member, original: types.Tool) -> types.Tool:
    name = exposed_name(member, original.name)
    override = member.overrides.get(original.name)
    if name == original.name and override is None:
        return original  # a registered tool as it is (on ``/mcp``, every one of them: no copy per list)
    update: dict[str, object] = {"name": name}
    if override is not None and override.description is not None:
        update["description"] = override.description
    return original.model_copy(update=update)


async def tool_view(
    catalog: Catalog, server: VirtualServer, principal: Principal, upstream: AdapterClient
) -> dict[str, ExposedTool]:
    """Exposed name -> :class:`ExposedTool`, in member order, of every tool ``principal`` may see in ``server``."""
    adapters = _readable_adapters(catalog, server, principal)
    upstream_tools = await _adapter_lists(catalog, server, principal, adapters, upstream.list_tools)
    view: dict[str, ExposedTool] = {}
    for index, member in enumerate(server.members):
        candidates: list[tuple[types.Tool, CatalogEntry | None, AdapterEntry | None]] = []
        if member.tool is not None:
            registered = catalog.get(member.tool)
            if registered is None or not can_read(principal, registered.created_by, registered.required_roles):
                continue
            candidates.append((registered.tool, registered, None))
        elif index in upstream_tools:
            candidates.extend((tool, None, adapters[index]) for tool in upstream_tools[index])
        for original, entry, adapter in candidates:
            if not member.keeps(original):
                continue
            definition = _exposed_definition(member, original)
            if definition.name in view:
                _dropped(catalog, server, member, "tool", definition.name)
                continue
            view[definition.name] = ExposedTool(definition, original, member, entry, adapter)
    return view


MAX_CACHED_VIEWS = 256
"""Tool views kept (:class:`ToolViews`), the least recently used going first."""


@dataclass(frozen=True)
class _KeptView:
    view: dict[str, ExposedTool]
    adapters: tuple[str, ...]
    generation: tuple[int, ...]
    until: float
    tools: list[types.Tool]


class ToolViews:
    """Each caller's :func:`tool_view` of each server, built once and kept while the catalog, the caller's
    access and the members' cached lists of that caller are unchanged (``AdapterClient.generation``), and no
    longer than the first of those lists expires (``AdapterClient.lists_until``; a failed list sooner, so a
    member that failed is asked again as soon as the list cache would). A ``tools/call`` then finds its tool
    in a dict instead of renaming every member's tools again, and a warm ``tools/list`` reuses the listed
    tools."""

    def __init__(self, upstream: AdapterClient, clock: Callable[[], float] = time.monotonic) -> None:
        self._upstream = upstream
        self._clock = clock
        self._kept: OrderedDict[tuple[str, str, str, frozenset[str]], _KeptView] = OrderedDict()

    async def view(self, catalog: Catalog, server: VirtualServer, principal: Principal) -> dict[str, ExposedTool]:
        return (await self._kept_view(catalog, server, principal)).view

    async def tools(self, catalog: Catalog, server: VirtualServer, principal: Principal) -> list[types.Tool]:
        """The listed tools of the view, in order (one list object per kept view)."""
        return (await self._kept_view(catalog, server, principal)).tools

    def cached(self, catalog: Catalog, server: VirtualServer, principal: Principal) -> dict[str, ExposedTool] | None:
        """The kept view if it is current; None otherwise (nothing is fetched)."""
        kept = self._kept.get((catalog.version, server.name, principal.user_id, principal.roles))
        return kept.view if kept is not None and self._current(kept, principal) else None

    def _current(self, kept: _KeptView, principal: Principal) -> bool:
        return kept.until > self._clock() and kept.generation == self._upstream.generation(kept.adapters, principal)

    async def _kept_view(self, catalog: Catalog, server: VirtualServer, principal: Principal) -> _KeptView:
        key = (catalog.version, server.name, principal.user_id, principal.roles)
        kept = self._kept.get(key)
        if kept is not None and self._current(kept, principal):
            self._kept.move_to_end(key)
            return kept
        started = self._clock()
        adapters = tuple(a.name for m in server.members if (a := readable_adapter(catalog, m, principal)) is not None)
        # Read before the build: a list that changes meanwhile makes the view stale at once (the lists this
        # build fetches itself do too, so a cold view is built twice: the second time from the cache).
        generation = self._upstream.generation(adapters, principal)
        view = await tool_view(catalog, server, principal, self._upstream)
        # No longer than the lists it was built from (a failed list is forgotten sooner, so is the view).
        until = min(started + self._upstream.list_ttl, self._upstream.lists_until("tools", adapters, principal))
        kept = _KeptView(view, adapters, generation, until, [t.tool for t in view.values()])
        self._kept[key] = kept
        while len(self._kept) > MAX_CACHED_VIEWS:
            self._kept.popitem(last=False)
        return kept


@dataclass(frozen=True)
class ExposedPrompt:
    prompt: types.Prompt
    """As listed to the caller: named ``{prefix}__{prompt}`` (:func:`prefixed`)."""
    original: types.Prompt
    adapter: AdapterEntry


@dataclass(frozen=True)
class ExposedResource:
    resource: types.Resource
    """As the adapter lists it: resources keep their URI."""
    adapter: AdapterEntry


async def prompt_view(
    catalog: Catalog, server: VirtualServer, principal: Principal, upstream: AdapterClient
) -> dict[str, ExposedPrompt]:
    """Exposed name (``{prefix}__{prompt}``) -> prompt, for every adapter member ``principal`` may read,
    filtered by the member's ``include`` / ``exclude`` (overrides and ``readOnly`` are about tools); the first
    member keeps a name two expose."""
    adapters = _readable_adapters(catalog, server, principal)
    found = await _adapter_lists(catalog, server, principal, adapters, upstream.list_prompts)
    view: dict[str, ExposedPrompt] = {}
    for index, prompts in sorted(found.items()):
        adapter = adapters[index]
        for prompt in prompts:
            if not server.members[index].keeps_name(prompt.name):
                continue
            name = prefixed(server.members[index], prompt.name)
            if name in view:
                _dropped(catalog, server, server.members[index], "prompt", name)
                continue
            view[name] = ExposedPrompt(prompt.model_copy(update={"name": name}), prompt, adapter)
    return view


async def resource_view(
    catalog: Catalog, server: VirtualServer, principal: Principal, upstream: AdapterClient
) -> dict[str, ExposedResource]:
    """URI -> resource, for every adapter member ``principal`` may read, filtered by the member's ``include``
    / ``exclude`` on the resource's ``name``; a URI two members list is the first's. ``resources/read`` finds
    its member here: the URIs are not rewritten."""
    adapters = _readable_adapters(catalog, server, principal)
    found = await _adapter_lists(catalog, server, principal, adapters, upstream.list_resources)
    view: dict[str, ExposedResource] = {}
    for index, resources in sorted(found.items()):
        for resource in resources:
            if not server.members[index].keeps_name(resource.name):
                continue
            uri = str(resource.uri)
            if uri in view:
                _dropped(catalog, server, server.members[index], "resource", uri)
                continue
            view[uri] = ExposedResource(resource, adapters[index])
    return view


@dataclass(frozen=True)
class ExposedTemplate:
    template: types.ResourceTemplate
    """As the adapter lists it (URI templates are not rewritten either)."""
    adapter: AdapterEntry
    pattern: Any
    """The URIs the template stands for (:func:`template_pattern`, an RE2 pattern)."""


async def template_view(
    catalog: Catalog, server: VirtualServer, principal: Principal, upstream: AdapterClient
) -> dict[str, ExposedTemplate]:
    """URI template -> template, as :func:`resource_view` for resources: the first member keeps a template
    two list; ``include`` / ``exclude`` apply to the template's ``name``."""
    adapters = _readable_adapters(catalog, server, principal)
    found = await _adapter_lists(catalog, server, principal, adapters, upstream.list_resource_templates)
    view: dict[str, ExposedTemplate] = {}
    for index, templates in sorted(found.items()):
        for template in templates:
            if not server.members[index].keeps_name(template.name) or template.uri_template in view:
                continue
            pattern = template_pattern(template)
            if pattern is None:
                _dropped(catalog, server, server.members[index], "unusable resource template", template.name)
                continue
            view[template.uri_template] = ExposedTemplate(template, adapters[index], pattern)
    return view


def template_pattern(template: types.ResourceTemplate) -> Any | None:
    """A regular expression for the URIs an RFC 6570 template produces (generous within each expression's
    reach: ``{var}`` one path segment, ``{+path}`` anything, ``{?q}`` a query, and so on); None for a template
    too long (:data:`MAX_TEMPLATE_LENGTH`) or too large for RE2. RE2, because the template is an adapter's and
    the URI a client's: ``{+a}{+b}{+c}...`` must not make a backtracking matcher spin on a URI that does not
    match. Compiled once per template text (:data:`MAX_CACHED_PATTERNS`)."""
    return _compiled(template.uri_template)


MAX_TEMPLATE_LENGTH = 2048
MAX_CACHED_PATTERNS = 4096


@functools.lru_cache(maxsize=MAX_CACHED_PATTERNS)
def _compiled(uri_template: str) -> Any | None:
    if len(uri_template) > MAX_TEMPLATE_LENGTH:
        return None
    parts: list[str] = []
    for literal, expression in _TEMPLATE_PART.findall(uri_template):
        if literal:
            parts.append(re.escape(literal))
        else:
            operator = expression[:1] if expression[:1] in _EXPANSIONS else ""
            parts.append(_EXPANSIONS[operator])
    try:
        return re2.compile("(?s)" + "".join(parts))
    except re2.error:
        return None


_TEMPLATE_PART = re.compile(r"([^{]+)|\{([^}]*)\}")
_EXPANSIONS = {
    "": "[^/?#]*",  # {var}: simple string expansion, reserved characters encoded
    "+": ".*",  # {+var}: reserved expansion (may hold '/')
    "#": "(#.*)?",
    ".": r"(\.[^/?#]*)?",
    "/": "(/[^?#]*)?",
    ";": "(;[^/?#]*)?",
    "?": r"(\?[^#]*)?",
    "&": "(&[^#]*)?",
}
"""RFC 6570 operators: what the expression may expand to (a name without an operator is the ``""`` row)."""


_reported: set[tuple[str, ...]] = set()


def _dropped(catalog: Catalog, server: VirtualServer, member: Member, kind: str, name: str) -> None:
    """Log a name an earlier member already exposes, once per catalog version (not on every request)."""
    key = (catalog.version, server.name, member.label, kind, name)
    if key in _reported:
        return
    if len(_reported) >= 10_000:
        _reported.clear()
    _reported.add(key)
    logger.info(
        "virtual server %r: %s exposes %s %r, which an earlier member already does; dropped",
        server.name,
        member.label,
        kind,
        name,
    )


def _readable_adapters(catalog: Catalog, server: VirtualServer, principal: Principal) -> dict[int, AdapterEntry]:
    """Member index -> adapter, for the adapter members ``principal`` may read."""
    return {i: a for i, m in enumerate(server.members) if (a := readable_adapter(catalog, m, principal))}


_ItemT = TypeVar("_ItemT")
Lister = Callable[[AdapterEntry, Principal, str], Awaitable[tuple[_ItemT, ...]]]


async def _adapter_lists(
    catalog: Catalog,
    server: VirtualServer,
    principal: Principal,
    adapters: Mapping[int, AdapterEntry],
    lister: Lister[_ItemT],
) -> dict[int, tuple[_ItemT, ...]]:
    """Each readable adapter member's list (member index -> items), fetched side by side; members that fail
    are missing from the answer."""
    found: dict[int, tuple[_ItemT, ...]] = {}

    async def fetch(index: int, adapter: AdapterEntry) -> None:
        try:
            found[index] = await lister(adapter, principal, catalog.version)
        except UpstreamError as exc:
            # Logged as a warning when it happens, not again for each request while the failure is remembered.
            log = logger.warning if exc.fresh else logger.debug
            log("virtual server %r: adapter %r is left out: %s", server.name, adapter.name, exc)

    if len(adapters) == 1:
        ((index, adapter),) = adapters.items()
        await fetch(index, adapter)
        return found
    async with anyio.create_task_group() as tasks:
        for index, adapter in adapters.items():
            tasks.start_soon(fetch, index, adapter)
    return found
