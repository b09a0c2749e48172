"""Properties of the header rules and session keys, over inputs hypothesis makes up: whatever a client
sends, what crosses the proxy is exactly what the gateway checked, and session keys never collide."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ambiguity import SINGLE_ITEM_HEADERS, SINGLETON_HEADERS, ambiguity_in
from gateway.auth.principal import Principal
from gateway.models import NAME_RE
from gateway.proxy.affinity import SESSION_ID_RE
from gateway.proxy.headers import ALLOWED_RESPONSE_HEADERS, downstream_response_headers, upstream_request_headers
from gateway.stores.base import SessionKey

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
INTERESTING_NAMES = sorted(n.decode() for n in SINGLETON_HEADERS) + [
    "connection",
    "keep-alive",
    "te",
    "upgrade",
    "cookie",
    "x-forwarded-for",
    "x-mcp-userid",
    "x-mcp-roles",
    "x-dev-userid",
    "accept",
    "x-custom",
    "mcp-param-region",
]
names = st.one_of(st.sampled_from(INTERESTING_NAMES), st.text(TOKEN_CHARS, min_size=1, max_size=12))
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
header_lists = st.lists(st.tuples(names, values), max_size=12)


def _as_asgi(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(n.encode(), v.encode()) for n, v in headers]


@given(header_lists)
def test_a_request_is_ambiguous_exactly_when_a_singleton_repeats_or_holds_a_list(
    headers: list[tuple[str, str]],
) -> None:
    singletons = [n for n, _ in headers if n.encode() in SINGLETON_HEADERS]
    listed = [n for n, v in headers if n.encode() in SINGLE_ITEM_HEADERS and "," in v]
    connection_named = [
        token.strip().lower()
        for n, v in headers
        if n == "connection"
        for token in v.split(",")
        if token.strip().lower().encode() in SINGLETON_HEADERS
    ]
    expected_ambiguous = len(singletons) != len(set(singletons)) or bool(listed) or bool(connection_named)
    assert (ambiguity_in(_as_asgi(headers)) is not None) == expected_ambiguous


@given(header_lists, st.text(min_size=1, max_size=20), st.lists(st.text(TOKEN_CHARS, min_size=1), max_size=3))
def test_only_checked_end_to_end_headers_and_the_gateways_own_cross_upstream(
    headers: list[tuple[str, str]], user: str, roles: list[str]
) -> None:
    if ambiguity_in(_as_asgi(headers)) is not None:
        return  # refused at the edge; never reaches the proxy
    principal = Principal(user_id=user, name=user, roles=frozenset(roles))
    out = upstream_request_headers(headers, principal, "for=127.0.0.1;proto=http", "secret")
    out_names = [n for n, _ in out]
    named_in_connection = {
        token.strip().lower() for n, v in headers if n == "connection" for token in v.split(",") if token.strip()
    }
    for forbidden in ("authorization", "cookie", "host", "origin", "connection", "te", "upgrade", "keep-alive"):
        assert forbidden not in out_names
    assert [v for n, v in out if n == "x-mcp-userid"] == [user]
    assert out_names.count("x-gateway-secret") == 1 and out_names.count("forwarded") == 1
    kept = [(n, v) for n, v in out if n not in ("x-mcp-userid", "x-mcp-roles", "forwarded", "x-gateway-secret")]
    assert all(header in headers for header in kept)  # nothing altered, nothing invented
    assert not named_in_connection & {n for n, _ in kept}


@given(header_lists)
def test_only_allow_listed_response_headers_that_connection_does_not_name_reach_the_client(
    headers: list[tuple[str, str]],
) -> None:
    out = downstream_response_headers(headers)
    named_in_connection = {
        token.strip().lower()
        for n, v in headers
        if n.lower() == "connection"
        for token in v.split(",")
        if token.strip()
    }
    gateway_added = {b"x-accel-buffering", b"cache-control"}
    for name, _ in out:
        assert name.decode() in ALLOWED_RESPONSE_HEADERS or name in gateway_added
        if name not in gateway_added:
            assert name.decode() not in named_in_connection


session_ids = st.from_regex(SESSION_ID_RE, fullmatch=True)
targets = st.from_regex(NAME_RE, fullmatch=True).filter(lambda n: len(n) <= 52)


@settings(max_examples=300)
@given(st.text(min_size=1), targets, session_ids, st.text(min_size=1), targets, session_ids)
def test_session_keys_of_different_owners_or_routes_never_collide(
    user_a: str, target_a: str, session_a: str, user_b: str, target_b: str, session_b: str
) -> None:
    a, b = SessionKey(user_a, target_a, session_a), SessionKey(user_b, target_b, session_b)
    assert (a.render() == b.render()) == (a == b)


separators = st.one_of(st.sampled_from(["\n", "\r\n", " ", ",", ";", "\x00", ":", "/"]), st.text(max_size=3))
near_misses = st.tuples(session_ids, separators).map(lambda parts: parts[0] + parts[1])


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), near_misses))
def test_a_session_id_the_proxy_accepts_is_safe_in_a_header_a_key_and_a_log_line(candidate: str) -> None:
    if SESSION_ID_RE.match(candidate):
        assert candidate.isascii() and candidate.isprintable()
        assert not set(candidate) & set(":,; \t\r\n/\\%\"'")
        assert 1 <= len(candidate) <= 128
