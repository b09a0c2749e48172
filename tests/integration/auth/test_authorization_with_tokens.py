"""The foundation's authorization matrix again, with identities and roles taken from real tokens.

Read = creator, ``mcp.admin`` or a holder of a ``requiredRoles`` entry; write = creator or admin.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.oidc_issuer import TestIssuer

from .conftest import Backend
from .test_token_validation import INITIALIZE, MCP_HEADERS

CALLERS: dict[str, dict[str, Any]] = {
    "creator": {"oid": "alice", "roles": None},
    "other": {"oid": "mallory", "roles": ["mcp.guest"]},
    "role-holder": {"oid": "bob", "roles": ["MCP.Engineer"]},  # role names compare case-insensitively
    "admin": {"oid": "root", "role": "mcp.admin"},  # the singular claim counts too
}
CAN_READ = {"creator": True, "other": False, "role-holder": True, "admin": True}
CAN_WRITE = {"creator": True, "other": False, "role-holder": False, "admin": True}


def bearer(issuer: TestIssuer, caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(**CALLERS[caller])}"}


def body(kind: str, name: str, url: str, description: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "url": url, "requiredRoles": ["mcp.engineer"], "description": description}
    if kind == "tools":
        data["toolDefinition"] = {"tool": {"name": name, "inputSchema": {"type": "object"}}}
    return data


@pytest.mark.parametrize("kind", ["adapters", "tools"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_each_token_holder_gets_exactly_the_access_the_rules_give(
    gateway: str, issuer: TestIssuer, backend: Backend, kind: str, caller: str
) -> None:
    name = f"m-{kind[:-1]}-{caller}"
    with httpx.Client(base_url=gateway) as client:
        created = client.post(f"/{kind}", json=body(kind, name, backend.url), headers=bearer(issuer, "creator"))
        assert created.status_code == 201, created.text
        assert created.json()["createdBy"] == "alice"
        headers = bearer(issuer, caller)
        read_status = 200 if CAN_READ[caller] else 403

        assert client.get(f"/{kind}/{name}", headers=headers).status_code == read_status
        assert client.get(f"/{kind}/{name}/status", headers=headers).status_code == read_status
        assert client.get(f"/{kind}/{name}/logs", headers=headers).status_code == read_status
        listed = [r["name"] for r in client.get(f"/{kind}", headers=headers).json()]
        assert (name in listed) is CAN_READ[caller]
        if kind == "adapters":
            mcp = client.post(f"/adapters/{name}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})
            assert mcp.status_code == read_status, mcp.text

        put = client.put(f"/{kind}/{name}", json=body(kind, name, backend.url, "changed"), headers=headers)
        assert put.status_code == (200 if CAN_WRITE[caller] else 403), put.text
        assert client.delete(f"/{kind}/{name}", headers=headers).status_code == (204 if CAN_WRITE[caller] else 403)
        remaining = client.get(f"/{kind}/{name}", headers=bearer(issuer, "creator"))
        assert remaining.status_code == (404 if CAN_WRITE[caller] else 200)
