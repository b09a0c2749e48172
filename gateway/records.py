"""Typed reads of a stored record's fields for readers that do not validate the whole record.

The data plane checks every request against the adapter's record (who may use it, where a ``url`` source
is) without building an :class:`~gateway.models.AdapterData` from it: the reads below take the wire field
names in one place and tolerate a damaged record exactly as the data plane always has. No imports from
``gateway``, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AdapterAccess:
    """What the data plane needs from an adapter record: its readers and its directly called URL. The readers
    of any other record (a virtual server's, a virtual server's members') are read the same way."""

    created_by: str | None
    """``createdBy`` (:func:`stored_creator`)."""
    required_roles: Iterable[str]
    """``requiredRoles``, empty when missing or blank. Taken as stored: a damaged value is not repaired here,
    so it fails (or not) in ``can_read`` exactly where it always did, after the admin and creator checks."""
    direct_url: str | None
    """The ``url`` source the data plane calls itself; None for a ``command`` adapter and for a ``url`` of
    transport ``sse`` (the runtime runs bridge replicas for it)."""

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> AdapterAccess:
        url = data.get("url")
        return cls(
            created_by=stored_creator(data),
            required_roles=data.get("requiredRoles") or (),
            direct_url=str(url) if url and data.get("transport") != "sse" else None,
        )


def stored_creator(data: Mapping[str, Any]) -> str | None:
    """A record's ``createdBy`` as the one rule for reading and writing it: None when missing, blank or not
    text. A damaged value never names a user, so only admins may use or change such a record (a number
    stored there must not become the user id ``"123"``)."""
    creator = data.get("createdBy")
    return creator if isinstance(creator, str) and creator else None
