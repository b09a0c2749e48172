"""The RFC 9728 document and the 401 challenge that points at it."""

from __future__ import annotations

from gateway.auth.challenge import challenge_header
from gateway.auth.metadata import authorization_server, resource_identifier, scopes_supported
from gateway.settings import AuthSettings


def test_the_path_suffixed_resource_is_the_base_url_plus_the_path() -> None:
    assert resource_identifier("https://gw.example.com/", "adapters/x/mcp") == "https://gw.example.com/adapters/x/mcp"
    assert resource_identifier("https://gw.example.com", "") == "https://gw.example.com"


def test_entra_advertises_the_v2_issuer_and_the_default_scope() -> None:
    auth = AuthSettings(mode="entra", tenant_id="t-1", client_id="c-1")
    assert authorization_server(auth) == "https://login.microsoftonline.com/t-1/v2.0"
    assert scopes_supported(auth) == ["api://c-1/.default"]


def test_configured_scopes_win_and_dev_mode_has_no_authorization_server() -> None:
    auth = AuthSettings(mode="entra", tenant_id="t", client_id="c", scopes_supported=["api://c/access"])
    assert scopes_supported(auth) == ["api://c/access"]
    assert authorization_server(AuthSettings()) is None


def test_the_challenge_for_a_missing_token_has_no_error_code() -> None:
    assert challenge_header("https://gw", "/adapters/x/mcp") == (
        'Bearer resource_metadata="https://gw/.well-known/oauth-protected-resource/adapters/x/mcp"'
    )


def test_the_challenge_for_a_bad_token_says_invalid_token_with_a_safe_description() -> None:
    header = challenge_header("https://gw", "/mcp", "invalid_token", 'bad "quote" \\ here')
    assert header == ('Bearer resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp", '
                      "error=\"invalid_token\", error_description=\"bad 'quote' / here\"")


def test_the_challenge_names_the_scopes_to_ask_for() -> None:
    header = challenge_header("https://gw", "/mcp", "invalid_token", "expired", ["api://c/access", "offline_access"])
    assert header == (
        'Bearer resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp", '
        'scope="api://c/access offline_access", error="invalid_token", error_description="expired"'
    )
