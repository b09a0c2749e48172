"""One rule for a stored record's creator, in the data plane and the services alike."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read, can_write
from gateway.records import AdapterAccess, stored_creator


@pytest.mark.parametrize("value", [None, "", 123, ["alice"], {"id": "alice"}, True])
def test_a_missing_blank_or_damaged_creator_names_nobody(value: Any) -> None:
    data = {"createdBy": value} if value is not None else {}
    assert stored_creator(data) is None
    assert AdapterAccess.of(data).created_by is None


def test_a_number_stored_as_creator_does_not_become_that_user_id() -> None:
    data = {"createdBy": 123, "requiredRoles": ["mcp.nobody"]}
    user = Principal(user_id="123", roles=frozenset())
    access = AdapterAccess.of(data)
    assert not can_read(user, access.created_by, access.required_roles)
    assert not can_write(user, stored_creator(data))


def test_a_text_creator_is_read_as_stored() -> None:
    assert stored_creator({"createdBy": "alice"}) == "alice"
    assert AdapterAccess.of({"createdBy": "alice"}).created_by == "alice"
