"""Development authentication: the caller says who they are in ``X-Dev-*`` headers.

Only for a gateway bound to loopback (settings refuse anything else unless forced), because anyone who
can reach the port can claim any identity, including ``mcp.admin``.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.auth.principal import Principal, normalise_roles

DEFAULT_DEV_USER = "dev"
DEFAULT_DEV_ROLE = "mcp.dev"


class DevAuthenticator:
    mode = "dev"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def authenticate(self, headers: Mapping[str, str], query_params: Mapping[str, str]) -> Principal:
        user_id = headers.get("x-dev-userid", "").strip() or DEFAULT_DEV_USER
        name = headers.get("x-dev-name", "").strip() or user_id
        roles = normalise_roles(headers.get("x-dev-roles", "").split(","))
        return Principal(user_id=user_id, name=name, roles=roles or frozenset({DEFAULT_DEV_ROLE}))
