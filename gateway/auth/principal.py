"""The authenticated caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ADMIN_ROLE = "mcp.admin"
USER_ID_HEADER = "x-mcp-userid"
ROLES_HEADER = "x-mcp-roles"
"""How the gateway presents the caller to what it calls (adapters, the tool router; the router to adapters)."""


def normalise_roles(roles: Iterable[str]) -> frozenset[str]:
    """Trimmed, non-blank, lower-cased role names: role comparisons are case-insensitive."""
    return frozenset(r.strip().lower() for r in roles if r and r.strip())


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role.strip().lower() in self.roles

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


def identity_headers(principal: Principal) -> list[tuple[str, str]]:
    """The caller as upstreams see it: the user id and, when there are any, the roles sorted and
    comma-separated. One rule for the data plane (``gateway.proxy.headers``) and the tool router."""
    headers = [(USER_ID_HEADER, principal.user_id)]
    if principal.roles:
        headers.append((ROLES_HEADER, ",".join(sorted(principal.roles))))
    return headers
