"""Claims -> Principal, bearer header parsing and the Entra token policy."""

from __future__ import annotations

import pytest

from gateway.auth.jwt import bearer_token, policy_from_settings, principal_from_claims
from gateway.errors import Unauthenticated
from gateway.settings import AuthSettings


def test_the_user_id_comes_from_oid_when_present_else_sub() -> None:
    assert principal_from_claims({"oid": "o-1", "sub": "s-1"}).user_id == "o-1"
    assert principal_from_claims({"sub": "s-1"}).user_id == "s-1"
    assert principal_from_claims({"oid": "o-1", "sub": "s-1"}, user_id_claim="sub").user_id == "s-1"


def test_a_token_without_any_user_id_is_invalid() -> None:
    with pytest.raises(Unauthenticated) as raised:
        principal_from_claims({"name": "nobody"})
    assert raised.value.error_code == "invalid_token"


def test_roles_merge_roles_and_role_claims_case_insensitively() -> None:
    principal = principal_from_claims({"sub": "u", "roles": ["MCP.Admin", " ", "mcp.reader"], "role": "Extra"})
    assert principal.roles == frozenset({"mcp.admin", "mcp.reader", "extra"})
    assert principal.is_admin


def test_scopes_come_from_space_separated_scp() -> None:
    assert principal_from_claims({"sub": "u", "scp": "access  read"}).scopes == frozenset({"access", "read"})


def test_the_name_falls_back_to_preferred_username_then_the_user_id() -> None:
    assert principal_from_claims({"sub": "u", "preferred_username": "a@x"}).name == "a@x"
    assert principal_from_claims({"sub": "u"}).name == "u"


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("", None), (None, None),
])
def test_only_the_bearer_scheme_yields_a_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_entra_accepts_both_audience_forms_and_both_issuer_versions() -> None:
    policy = policy_from_settings(AuthSettings(mode="entra", tenant_id="t-1", client_id="c-1"))
    assert policy.audiences == ("api://c-1", "c-1")
    assert policy.accepted_issuers == ("https://login.microsoftonline.com/t-1/v2.0", "https://sts.windows.net/t-1/")
    assert policy.require_scp_or_roles


def test_the_algorithm_allow_list_never_contains_none_or_hmac() -> None:
    auth = AuthSettings.model_construct(mode="oidc", issuer="https://i", audience=["a"],
                                        algorithms=["RS256", "none", "HS256"])
    assert policy_from_settings(auth).algorithms == ("RS256",)
