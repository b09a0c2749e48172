"""Secrets never survive into a log record, whatever shape they take."""

from __future__ import annotations

import logging

import pytest

from gateway.telemetry import redaction
from gateway.telemetry.redaction import REDACTED, redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer opaque-token-123", "opaque-token-123"),
        (f"calling with {JWT} now", JWT),
        ("headers {'x-gateway-secret': 's3cr3t-value'}", "s3cr3t-value"),
        ("Created new transport with session ID: 8c1f0e2d4b", "8c1f0e2d4b"),
        ("mcp-session-id=abcdef123456", "abcdef123456"),
        ("Terminating session: 57a7fbd19e11", "57a7fbd19e11"),
        ("[(b'content-type', b'text/plain'), (b'mcp-session-id', b'0455d43206cb')]", "0455d43206cb"),
        ('{"x-gateway-secret": "json-secret-1"}', "json-secret-1"),
        ("GET /cb?access_token=tok-999&x=1", "tok-999"),
        ("connecting to redis://:hunter2pass@redis:6379/0", "hunter2pass"),
    ],
)
def test_credential_looking_values_are_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_a_registered_secret_is_redacted_wherever_it_appears() -> None:
    redaction.register_secret("plain-words-secret-42")
    assert redact("the value plain-words-secret-42 leaked") == f"the value {REDACTED} leaked"


def test_a_bearer_header_keeps_its_scheme_and_loses_its_token() -> None:
    assert redact("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"


def test_ordinary_messages_are_left_alone() -> None:
    text = "adapter mcp-example created by alice in 12.5 ms"
    assert redact(text) == text


def test_records_are_redacted_at_creation_and_keep_their_argument_tuple(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tests.access").info('%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", "/x?token=abc123", "1.1", 200)
    logging.getLogger("some.lib").debug("Authorization: Bearer %s", "leaky-token-value")
    access, lib = caplog.records[-2:]
    assert isinstance(access.args, tuple) and len(access.args) == 5  # uvicorn's formatter unpacks them
    assert "abc123" not in access.getMessage()
    assert "leaky-token-value" not in lib.getMessage() and REDACTED in lib.getMessage()


def test_exception_text_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install()
    try:
        raise RuntimeError(f"upstream said {JWT}")
    except RuntimeError:
        logging.getLogger("some.lib").exception("failed")
    assert JWT not in caplog.text


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("tests.redaction", logging.INFO, __file__, 1, msg, args or None, None)


def test_a_secret_inside_a_non_string_argument_is_redacted_from_the_message() -> None:
    item = record("sending %s", {"authorization": "Bearer dict-held-token"})
    redaction.redact_record(item)
    assert "dict-held-token" not in item.getMessage()


def test_an_argument_the_template_cuts_short_is_still_redacted() -> None:
    # The merged message shows only 3 characters, but a formatter that reads args would print all of it.
    item = record("prefix %.3s", "Bearer cut-short-token")
    redaction.redact_record(item)
    assert isinstance(item.args, tuple) and "cut-short-token" not in item.args[0]


def test_a_malformed_record_has_its_arguments_redacted() -> None:
    # Too few arguments for the template: logging prints the raw arguments when it reports the error.
    item = record("%s and %s", "Bearer malformed-token")
    redaction.redact_record(item)
    assert isinstance(item.args, tuple) and "malformed-token" not in str(item.args)


def test_a_record_with_nothing_sensitive_is_left_as_it_was() -> None:
    args = ("127.0.0.1:5000", "POST", "/adapters/a/mcp", "1.1", 200)
    item = record('%s - "%s %s HTTP/%s" %d', *args)
    redaction.redact_record(item)
    assert item.args == args and item.msg == '%s - "%s %s HTTP/%s" %d'
