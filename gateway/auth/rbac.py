"""Resource authorization, exactly as the original gateway.

Read: the creator, a holder of ``mcp.admin``, or a holder of any of the resource's ``requiredRoles``
(an empty list means creator and admins only). Write: the creator or ``mcp.admin``; ``requiredRoles``
never grant write. Role names and creator ids compare case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.auth.principal import Principal


def _is_creator(principal: Principal, created_by: str | None) -> bool:
    # A blank creator never matches: the original let a null user id match a null creator.
    return bool(created_by) and bool(principal.user_id) and principal.user_id.lower() == str(created_by).lower()


def can_read(principal: Principal | None, created_by: str | None, required_roles: Iterable[str]) -> bool:
    if principal is None:
        return False
    if principal.is_admin or _is_creator(principal, created_by):
        return True
    return any(principal.has_role(role) for role in required_roles if role and role.strip())


def can_write(principal: Principal | None, created_by: str | None) -> bool:
    if principal is None:
        return False
    return principal.is_admin or _is_creator(principal, created_by)


def can_use_workload_identity(principal: Principal | None, extra_roles: Iterable[str]) -> bool:
    """``useWorkloadIdentity`` is a capability: admins and configured roles only, no creator bypass."""
    if principal is None:
        return False
    return principal.is_admin or any(principal.has_role(role) for role in extra_roles if role.strip())
