"""What the CLI prints: tables for people, exact JSON or YAML for scripts.

``-o json`` and ``-o yaml`` print the API's documents as they are, keys sorted, so two runs against the same
state print the same bytes. Tables are for reading: colour only on a terminal and never with ``NO_COLOR``
(https://no-color.org) or ``TERM=dumb``; cells are cut to a width so a long command line does not wrap a row.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import yaml

Format = Literal["table", "json", "yaml"]
FORMATS: tuple[Format, ...] = ("table", "json", "yaml")
MAX_CELL = 60

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}
PHASE_COLOURS = {
    "Ready": "green",
    "Stopped": "dim",
    "Starting": "yellow",
    "Updating": "yellow",
    "Degraded": "yellow",
    "Failing": "red",
}


def colour_enabled(stream: TextIO, disabled: bool = False) -> bool:
    if disabled or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def paint(text: str, colour: str | None, enabled: bool) -> str:
    if not enabled or colour is None or colour not in _COLOURS:
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False, width=1 << 16)


def dump(data: Any, fmt: Format) -> str:
    """``data`` as JSON or YAML (a table needs columns: :func:`table`)."""
    return dump_yaml(data).rstrip("\n") if fmt == "yaml" else dump_json(data)


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any]
    colour: Callable[[Any], str | None] | None = None
    wide: bool = False
    """Cut to :data:`MAX_CELL` characters (free text: commands, descriptions, errors)."""


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, colour: bool = False) -> str:
    """Rows under upper-case headers, columns two spaces apart; ``(none)`` for no rows."""
    if not rows:
        return "(none)"
    cells = [[_cell(column.value(row), column.wide) for column in columns] for row in rows]
    widths = [max(len(column.header), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    # The last column is not padded: no trailing blanks for a terminal to wrap or a test to trip on.
    widths[-1] = 0
    lines = ["  ".join(paint(c.header.ljust(w), "bold", colour) for c, w in zip(columns, widths, strict=True))]
    for row, line in zip(rows, cells, strict=True):
        parts = []
        for column, text, width in zip(columns, line, widths, strict=True):
            tint = column.colour(column.value(row)) if column.colour is not None else None
            parts.append(paint(text.ljust(width), tint, colour))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def details(pairs: Iterable[tuple[str, Any]], *, colour: bool = False) -> str:
    """``Key:  value`` lines, keys aligned; values that are empty are left out."""
    shown = [(key, _cell(value, wide=False, limit=terminal_width() - 20)) for key, value in pairs]
    shown = [(key, value) for key, value in shown if value not in ("", "-")]
    width = max((len(key) for key, _ in shown), default=0) + 1
    return "\n".join(f"{paint((key + ':').ljust(width), 'bold', colour)}  {value}" for key, value in shown)


def terminal_width() -> int:
    return max(shutil.get_terminal_size((120, 24)).columns, 60)


def _cell(value: Any, wide: bool, limit: int = MAX_CELL) -> str:
    if value is None or value == [] or value == {}:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list | tuple):
        text = ",".join(str(item) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    if (wide or len(text) > limit) and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def phase_colour(phase: Any) -> str | None:
    return PHASE_COLOURS.get(str(phase))


def age(timestamp: Any, now: datetime | None = None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d`` since an ISO 8601 time (what ``kubectl get`` shows as AGE)."""
    if not isinstance(timestamp, str):
        return "-"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(int(((now or datetime.now(UTC)) - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def echo(text: str, stream: TextIO | None = None) -> None:
    """Print ``text`` and a newline; a closed pipe (``| head``) ends the program quietly, not with a trace."""
    target = stream or sys.stdout
    try:
        target.write(text + "\n")
        target.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target.fileno())
        raise SystemExit(0) from None
