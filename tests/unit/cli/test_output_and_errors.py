"""Tables, JSON and YAML output, colour rules, and one-line errors from problem documents."""

from __future__ import annotations

import io
import json

import pytest

from gateway.cli.errors import ApiError, ExitCode, problem_message
from gateway.cli.http import _parse_sse
from gateway.cli.output import Column, age, colour_enabled, dump, table

COLUMNS = [Column("NAME", lambda r: r["name"]), Column("PHASE", lambda r: r["phase"], colour=lambda v: "green"),
           Column("SOURCE", lambda r: r["source"], wide=True)]
ROWS = [{"name": "calc", "phase": "Ready", "source": "python3 main.py"},
        {"name": "a-much-longer-name", "phase": "Failing", "source": "x" * 100}]


def test_a_table_is_aligned_cut_and_has_no_trailing_blanks() -> None:
    lines = table(ROWS, COLUMNS).splitlines()
    assert lines[0] == "NAME                PHASE    SOURCE"
    assert lines[1] == "calc                Ready    python3 main.py"
    assert lines[2] == "a-much-longer-name  Failing  " + "x" * 59 + "…"
    assert table([], COLUMNS) == "(none)"


def test_colour_only_when_enabled() -> None:
    assert "\x1b[" not in table(ROWS, COLUMNS, colour=False)
    coloured = table(ROWS, COLUMNS, colour=True)
    assert "\x1b[1mNAME" in coloured and "\x1b[32mReady" in coloured


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_needs_a_terminal_and_no_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour_enabled(Tty()) and not colour_enabled(io.StringIO()) and not colour_enabled(Tty(), disabled=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_enabled(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_enabled(Tty())


def test_json_and_yaml_are_sorted_and_exact() -> None:
    data = {"b": [1, {"z": None, "a": "é"}], "a": True}
    assert dump(data, "json") == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    assert dump(data, "yaml") == "a: true\nb:\n- 1\n- a: é\n  z: null"


def test_age() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert [age(t, now) for t in ("2026-01-01T23:59:55Z", "2026-01-01T23:57:00Z", "2026-01-01T00:00:00Z",
                                  "2025-12-01T00:00:00+00:00", None, "yesterday")] == ["5s", "3m", "1d", "32d", "-",
                                                                                         "-"]


@pytest.mark.parametrize(
    ("status", "body", "text", "line"),
    [
        (400, {"title": "Invalid request", "detail": "One or more fields are invalid: name must ...",
               "errors": [{"field": "name", "message": "must be short"}, {"field": "body", "message": "is bad"}]},
         "", "Invalid request: name: must be short; is bad"),
        (404, {"title": "Not found", "detail": "The adapter 'x' does not exist."}, "",
         "Not found: The adapter 'x' does not exist."),
        (502, None, "<html>\n<body>Bad gateway</body></html>", "HTTP 502: <html>"),
        (500, None, "", "HTTP 500"),
        (409, {"title": "Conflict", "detail": "line one\nline two"}, "", "Conflict: line one line two"),
    ],
)
def test_problem_documents_become_one_line(status: int, body: object, text: str, line: str) -> None:
    assert problem_message(status, body, text) == line


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, ExitCode.FAILED), (401, ExitCode.AUTH), (403, ExitCode.AUTH), (404, ExitCode.NOT_FOUND),
     (409, ExitCode.CONFLICT), (412, ExitCode.CONFLICT), (500, ExitCode.FAILED)],
)
def test_exit_codes_by_status(status: int, code: ExitCode) -> None:
    assert ApiError(status, "x").code == code


def test_server_sent_events() -> None:
    lines = iter([": keep-alive", "data: one", "", "data:two", "data: lines", "", "event: error", "data: broke", ""])
    assert list(_parse_sse(lines)) == [("message", "one"), ("message", "two\nlines"), ("error", "broke")]
