"""The boundary's text rules, over strings and JSON values hypothesis makes up.

What ``SafeText`` and ``check_json_value`` accept can always be written back (JSON, UTF-8); what holds a
surrogate or a forbidden control character never gets in; the OpenAPI ``pattern`` says exactly that;
and the strict body parser reads back everything ``json.dumps`` writes, but nothing ambiguous.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.control.strict_json import MAX_BODY_DEPTH, loads_strictly
from gateway.models import (
    LINE_PATTERN,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    TEXT_PATTERN,
    AdapterData,
    SafeText,
    ToolDefinition,
    check_json_value,
    shown,
)

# Every code point, surrogates included (hypothesis leaves them out unless asked).
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
LINE = SafeText(10_000)
TEXT = SafeText(10_000, multiline=True)
LINE_BREAKS_AND_TAB = "\t\n\r"


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F


def accepts(rule: SafeText, value: str) -> bool:
    try:
        rule.check(value)
    except ValueError:
        return False
    return True


def round_trips(value: Any) -> bool:
    written = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return bool(json.loads(written.encode("utf-8").decode("utf-8")) == value)


@given(any_text)
def test_accepted_text_round_trips_through_json_and_utf8(value: str) -> None:
    for rule in (LINE, TEXT):
        if accepts(rule, value):
            assert round_trips(value)
            assert value.encode("utf-8").decode("utf-8") == value


@given(any_text)
def test_text_is_refused_exactly_when_it_holds_a_surrogate_or_a_forbidden_control(value: str) -> None:
    unsafe_anywhere = any(is_surrogate(c) or is_control(c) for c in value)
    unsafe_in_text = any(is_surrogate(c) or (is_control(c) and c not in LINE_BREAKS_AND_TAB) for c in value)
    assert accepts(LINE, value) is not unsafe_anywhere
    assert accepts(TEXT, value) is not unsafe_in_text


@given(any_text)
def test_the_documented_patterns_say_what_is_accepted(value: str) -> None:
    assert (re.fullmatch(LINE_PATTERN, value) is not None) is accepts(LINE, value)
    assert (re.fullmatch(TEXT_PATTERN, value) is not None) is accepts(TEXT, value)


@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=5), any_text)
def test_a_surrogate_is_reported_wherever_it_sits(prefix: str, suffix: str) -> None:
    with pytest.raises(ValueError, match=f"surrogate .* at character {len(prefix)};"):
        TEXT.check(prefix + "\ud800" + suffix)


@given(any_text, st.integers(min_value=1, max_value=500))
def test_what_may_be_shown_is_safe_and_short(value: str, limit: int) -> None:
    rendered = shown(value, limit)
    assert accepts(LINE, rendered) and len(rendered) <= limit
    rendered.encode("utf-8")


def test_a_name_with_a_trailing_newline_is_not_a_name() -> None:
    # re.match with "$" accepts "svc\n"; the names must be full matches.
    with pytest.raises(ValidationError):
        AdapterData.model_validate({"name": "svc\n", "url": "http://127.0.0.1:9/mcp"})


# ----- free-form JSON -----------------------------------------------------------------------------------
safe_key = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8)
safe_string = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"), max_size=12)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite_floats | safe_string
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(safe_key, children, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(safe_key, json_values, max_size=5))
def test_safe_free_form_json_is_accepted_and_round_trips(value: dict[str, Any]) -> None:
    assert check_json_value(value) is value
    assert round_trips(value)


@given(st.dictionaries(safe_key, json_values, max_size=3), st.sampled_from(["\ud800", "\x00", "\x85"]), st.booleans())
def test_an_unsafe_key_anywhere_is_refused(value: dict[str, Any], bad: str, nest: bool) -> None:
    poisoned: dict[str, Any] = {f"k{bad}": 1}
    value = {**value, "inner": [poisoned]} if nest else {**value, **poisoned}
    with pytest.raises(ValueError, match="key"):
        check_json_value(value)


@pytest.mark.parametrize("bad", ["\udc00", "\x00", "\x1b[31m", "\x9b"])
def test_an_unsafe_string_value_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="string"):
        check_json_value({"properties": {"x": {"description": f"fine {bad}"}}})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_numbers_that_json_cannot_write_are_refused(number: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        check_json_value({"maximum": number})


def nested_objects(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_the_depth_limit_is_exact() -> None:
    check_json_value(nested_objects(MAX_JSON_DEPTH))
    with pytest.raises(ValueError, match="nested deeper"):
        check_json_value(nested_objects(MAX_JSON_DEPTH + 1))


def test_a_value_far_too_deep_for_the_stack_is_refused_without_recursion_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        check_json_value({"items": deep})


def test_the_size_limit_counts_utf8_bytes() -> None:
    overhead = len(json.dumps({"d": ""}, separators=(",", ":")))
    check_json_value({"d": "x" * (MAX_JSON_BYTES - overhead)})
    with pytest.raises(ValueError, match="bytes"):
        check_json_value({"d": "é" * ((MAX_JSON_BYTES - overhead) // 2 + 1)})


# ----- strict types -------------------------------------------------------------------------------------
@pytest.mark.parametrize("replicas", [True, "3", 3.0, None])
def test_replica_count_is_an_integer_and_nothing_else(replicas: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        AdapterData.model_validate({"name": "svc", "url": "http://127.0.0.1:9/mcp", "replicaCount": replicas})
    assert [e["loc"] for e in raised.value.errors()] == [("replicaCount",)]


def test_a_port_given_as_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        ToolDefinition.model_validate({"tool": {"name": "t"}, "port": "8000"})


# ----- the strict body parser ---------------------------------------------------------------------------
@given(json_values)
@settings(max_examples=200)
def test_the_strict_parser_reads_back_what_json_writes(value: Any) -> None:
    assert loads_strictly(json.dumps(value).encode()) == value
    assert loads_strictly(json.dumps(value, ensure_ascii=False).encode()) == value


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": "a", "name": "b"}', "twice"),
        (b'{"outer": [{"k": 1, "k": 1}]}', "twice"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": -Infinity}', "Infinity"),
        (b'{"n": 1e999}', "too large"),
        (b'{"d": "\xff"}', "UTF-8"),
        (b'\xef\xbb\xbf{"name": "a"}', "BOM"),
        (b"[" * (MAX_BODY_DEPTH + 1) + b"]" * (MAX_BODY_DEPTH + 1), "nested deeper"),
        (b"[" * 200_000 + b"]" * 200_000, "nested deeper"),
    ],
)
def test_the_strict_parser_refuses_what_is_ambiguous_or_unportable(body: bytes, reason: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=reason):
        loads_strictly(body)
