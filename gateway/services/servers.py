"""Virtual servers: a named selection of adapters' and registered tools' tools, served by the tool router.

A virtual server is a record and nothing else: no workload, so neither the runtime nor the reconciler ever
hears of it (:class:`ServerService` is a :class:`~gateway.services.resources.RecordService` whose writes
are the store write alone). The tool router reads the servers, and the adapters they name, from the tool
catalog (:mod:`gateway.services.catalog`); the data plane routes ``/servers/{name}/mcp`` to the router.

Beyond the body's own rules (:class:`~gateway.models.ServerData`), a write is refused (400, naming the
field) when a member names an adapter or tool that does not exist or that the writer may not read (a
typo is caught, and nobody assembles a server from what they cannot use themselves), when one adapter or
tool is a member twice, or when the names the server would list collide: an alias used twice, an alias
equal to a tool member's name, or an alias taken by the meta-tools. A member deleted later simply drops out
of the server (the router skips it); a PUT must then leave it out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from gateway.errors import FieldProblem, InvalidRequest
from gateway.models import META_TOOLS, ServerData, ServerResource, shown
from gateway.records import AdapterAccess
from gateway.services.resources import RecordService, _now
from gateway.stores.base import MetadataStore, ResourceKind


class ServerService(RecordService[ServerData, ServerResource]):
    """Create, read, update and delete of virtual servers (no status, logs or restart: nothing runs)."""

    def __init__(self, store: MetadataStore, clock: Callable[[], datetime] = _now) -> None:
        super().__init__("server", ServerResource, store, clock, noun="virtual server")

    async def _check_write(self, principal: Principal, data: ServerData, existing: ServerResource | None) -> None:
        problems = _duplicate_members(data) + _name_collisions(data)
        problems += await self._unknown_members(principal, data)
        if problems:
            summary = "; ".join(f"{p.field} {p.message}" for p in problems[:5])
            raise InvalidRequest(f"The virtual server's members are invalid: {summary}"[:2000], problems)

    async def _unknown_members(self, principal: Principal, data: ServerData) -> list[FieldProblem]:
        """A problem per member naming an adapter or tool that does not exist or that ``principal`` may not
        read (one message for both, so a refusal does not tell which)."""
        sources = list(dict.fromkeys(member.source for member in data.members))
        found = await asyncio.gather(*(self._store.get(kind, name) for kind, name in sources))
        readable: set[tuple[ResourceKind, str]] = set()
        for (kind, name), record in zip(sources, found, strict=True):
            if record is None:
                continue
            access = AdapterAccess.of(record.data)
            if can_read(principal, access.created_by, access.required_roles):
                readable.add((kind, name))
        return [
            FieldProblem(
                f"members.{index}.{member.source[0]}",
                f"names no {_noun(member.source[0])} you may read: '{member.source[1]}' does not exist, or its "
                "requiredRoles do not include yours",
            )
            for index, member in enumerate(data.members)
            if member.source not in readable
        ]


def _noun(kind: str) -> str:
    return "registered tool" if kind == "tool" else kind


def _duplicate_members(data: ServerData) -> list[FieldProblem]:
    first: dict[tuple[ResourceKind, str], int] = {}
    problems = []
    for index, member in enumerate(data.members):
        kind, name = member.source
        if (kind, name) in first:
            problems.append(
                FieldProblem(
                    f"members.{index}.{kind}",
                    f"names the {_noun(kind)} '{name}' again (members.{first[kind, name]}); give each one once and "
                    "put all its filters and overrides there",
                )
            )
        else:
            first[kind, name] = index
    return problems


def _name_collisions(data: ServerData) -> list[FieldProblem]:
    """Aliases that would make two listed tools share a name (the router could call only one of them)."""
    tool_members = {member.tool: index for index, member in enumerate(data.members) if member.tool is not None}
    aliases: dict[str, str] = {}
    problems = []
    for index, member in enumerate(data.members):
        for original, override in member.overrides.items():
            alias = override.alias
            if alias is None:
                continue
            field = f"members.{index}.overrides.{shown(original, 80)}.alias"
            if alias in META_TOOLS:
                problems.append(FieldProblem(field, f"'{alias}' is the name of one of the tool router's meta-tools"))
            elif alias in aliases:
                problems.append(FieldProblem(field, f"'{alias}' is already the alias given at {aliases[alias]}"))
            elif alias in tool_members and member.tool != alias:
                problems.append(
                    FieldProblem(field, f"'{alias}' is the name of the tool member members.{tool_members[alias]}")
                )
            aliases.setdefault(alias, field)
    return problems
