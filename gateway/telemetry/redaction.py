"""Redaction of secrets in log records: always on, whatever the log format.

Patterns catch what looks like a credential (bearer tokens, JWTs, secret headers, session ids, secret
query parameters); values registered with :func:`register_secret` (the router secret, store keys) are
replaced wherever they appear, even where no pattern would recognise them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 6
"""Shorter registered values would blank out ordinary words."""

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <token> (also Basic and the value of any "authorization" key).
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"(://[^:/\s@]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    # JWTs: three base64url segments, the first two starting with '{"' encoded ("eyJ").
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Header- or key-value pairs whose name says "secret", "token", "session id", "password", "api key",
    # "authorization" or "cookie": keep the name, drop the value.
    (
        re.compile(
            r"(?i)(\b[\w-]*(?:secret|token|session(?:[-_ ]?id)?|password|passwd|api[-_]?key|authorization|cookie)"
            # "name: value", "name=value", JSON "name": "value", and httpcore's (b'name', b'value') tuples.
            r"[\w-]*(?:['\"]?\s*[:=]\s*(?-i:b)?['\"]?|['\"],\s*(?-i:b)?['\"]))"
            r"(?!\[REDACTED\]|(?:bearer|basic)\s)[^\s'\",;&})\]]+"
        ),
        r"\1" + REDACTED,
    ),
)

_KEYWORDS = (
    "bearer", "basic", "://", "eyj", "secret", "token", "session", "passw", "apikey", "api-key", "api_key",
    "authorization", "cookie",
)
"""Lower-case words every pattern above needs: most log text has none, and looking for them with ``in``
is far cheaper than four substitutions (the access log writes a line per proxied call)."""


def _maybe_sensitive(text: str) -> bool:
    # casefold, not lower: it folds what the patterns' (?i) also folds (the long s, the Kelvin sign).
    folded = text.casefold()
    return any(word in folded for word in _KEYWORDS)


_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(value: str | None) -> None:
    """Redact this exact value from every later log line (no-op for empty or very short values)."""
    global _secrets
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets = _secrets | {value}


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-looking value replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if not _maybe_sensitive(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its arguments one by one (so formatters that read ``args``, such as
    uvicorn's access formatter, keep working), then, if the merged message still holds a secret, the
    message itself."""
    if _may_hold_secret(record):
        _redact_message(record)
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)


def _may_hold_secret(record: logging.LogRecord) -> bool:
    """One look at the merged message and every string argument (which a formatter may print in full even
    where the template cuts it short): most records, such as the access-log line per proxied call, hold
    nothing to redact, and this is several times cheaper than redacting each part on its own."""
    try:
        message = record.getMessage()
    except Exception:
        return True  # logging will print a malformed record's raw arguments: redact them one by one
    args = record.args
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else ()
    probe = "\n".join([message, *(value for value in values if isinstance(value, str))])
    return any(secret in probe for secret in _secrets) or _maybe_sensitive(probe)


def _redact_message(record: logging.LogRecord) -> None:
    # The template is judged only merged with its arguments ("Bearer %s" is harmless on its own).
    if isinstance(record.args, tuple):
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is logging's problem to report, not ours
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None


def install() -> None:
    """Redact every log record at creation, process-wide (idempotent).

    A record factory rather than a handler filter: then no handler (a library's own, pytest's capture,
    a file handler added later) can ever see the unredacted text.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_mcpgw_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        # Logging must never raise (at interpreter shutdown even imports fail).
        with contextlib.suppress(Exception):
            redact_record(record)
        return record

    factory._mcpgw_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
