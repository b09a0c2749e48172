"""Authenticator seam: turns request credentials into a :class:`Principal` or raises ``Unauthenticated``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.auth.principal import Principal


class Authenticator(Protocol):
    """``headers`` have lower-case names. Raise ``gateway.errors.Unauthenticated`` with ``error_code``
    ``"invalid_token"`` for a bad token and ``None`` for a missing one; the caller adds the
    ``WWW-Authenticate`` challenge."""

    mode: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def authenticate(self, headers: Mapping[str, str], query_params: Mapping[str, str]) -> Principal: ...
