"""The authenticated caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ADMIN_ROLE = "mcp.admin"


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
