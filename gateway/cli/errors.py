"""Exit codes and the one-line errors the CLI prints.

Every failure ends as a :class:`CliError`: a message on one line (``mcp-gateway: ...`` on stderr) and an exit
code a script can branch on. The codes are documented in docs/cli.md; keep the two in step.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """The gateway refused or failed the request (a 400, a 5xx), a tool call failed, or a --wait saw the
    resource fail."""
    USAGE = 2
    """Bad command line, configuration file or environment (click uses 2 for usage errors too)."""
    NOT_FOUND = 3
    AUTH = 4
    """Not signed in, the token was refused (401) or the caller may not do this (403)."""
    CONFLICT = 5
    """The name is taken (409) or the resource changed meanwhile (412)."""
    UNREACHABLE = 6
    """No answer from the gateway (connection refused, DNS, TLS, timeout of a single request)."""
    TIMEOUT = 124
    """``--wait`` gave up at ``--timeout`` (124, like timeout(1))."""


class CliError(Exception):
    """A failure to report as one line and an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_CODE_BY_STATUS = {
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    412: ExitCode.CONFLICT,
}


class ApiError(CliError):
    """An error response of the REST API, usually ``application/problem+json``."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message, _CODE_BY_STATUS.get(status, ExitCode.FAILED))
        self.status = status
        self.body = body


def problem_message(status: int, body: Any, fallback: str = "") -> str:
    """One line from a problem+json body: ``title: detail``, or ``title: field: message; field: message``.

    Anything that is not a problem document (a proxy's HTML page, an empty body) becomes the status and the
    first line of ``fallback``, so the line never carries a page of markup.
    """
    if not isinstance(body, dict) or not ("title" in body or "detail" in body):
        first = fallback.strip().splitlines()[0][:200] if fallback.strip() else ""
        return f"HTTP {status}" + (f": {first}" if first else "")
    title = str(body.get("title") or f"HTTP {status}")
    # With field errors the detail only repeats them ("One or more fields are invalid: ..."): name each field.
    fields = [_field_error(error) for error in body.get("errors") or [] if isinstance(error, dict)]
    fields = [text for text in fields if text]
    detail = "; ".join(fields) if fields else str(body.get("detail") or "")
    line = f"{title}: {detail}" if detail and detail != title else title
    return " ".join(line.split())


def _field_error(error: dict[str, Any]) -> str:
    field, message = error.get("field"), error.get("message")
    if not message:
        return ""
    return f"{field}: {message}" if field and field != "body" else str(message)
