"""The shell examples of README.md and docs/: which fenced blocks run, their commands and shown outputs.

The convention (also in README.md, "Examples in the documentation"):

- Every fenced block labelled ``sh``, ``bash`` or ``shell`` runs, unless the last non-blank
  line before its fence is ``<!-- docs-test: skip <reason> -->`` (the reason is required).
- A comment that starts with ``{`` or ``[`` shows the output of the command it follows (on the command's
  last line, or on the comment lines below it; it may go on over several comment lines until its brackets
  close, and prose may follow the closing bracket). It is JSON in which ``...`` stands for "more": more
  members of an object, more items of a list, any text inside a string. Without ``...`` objects and lists
  must be exactly as shown.
- Any other comment is prose and is not checked.

This module is pure (no processes), so its rules have fast tests of their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
SKIP_MARKER = re.compile(r"^<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)\s*(?P<lang>[\w+-]*)")
"""An opening fence, also indented (a block inside a list item)."""
ELLIPSIS = "\u2026docs-test-ellipsis\u2026"
"""Stands for a ``...`` of a shown output after parsing (a member key in objects, an item in lists)."""


class DocsSyntaxError(ValueError):
    """A documentation block breaks the convention (the message names the file and line)."""


@dataclass(frozen=True)
class Command:
    text: str
    """The shell text as written, over one or more lines, with its own comments."""
    line: int
    """Line number in the Markdown file where the command starts."""
    expected: str | None = None
    """The shown output (JSON with ``...``), when the documentation shows one."""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    """Line number of the opening fence."""
    language: str
    text: str
    skip_reason: str | None = None

    @property
    def runs(self) -> bool:
        return self.language in SHELL_LANGUAGES and self.skip_reason is None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def commands(self) -> list[Command]:
        return split_commands(self.text, self.line + 1, self.where)


# --------------------------------------------------------------------------- Markdown


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the skip reason its marker gives (if any)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = _closing_fence(lines, index, opening.group("fence"), path)
        indent = len(opening.group("indent"))
        blocks.append(
            Block(
                path=path,
                line=index + 1,
                language=opening.group("lang").lower(),
                text="\n".join(_dedent(line, indent) for line in lines[index + 1 : end]),
                skip_reason=_skip_reason(lines, index, path),
            )
        )
        index = end + 1
    return blocks


def _dedent(line: str, indent: int) -> str:
    """A line of an indented block without the indentation of its fence (Markdown removes that much)."""
    return line[min(indent, len(line) - len(line.lstrip(" \t"))) :]


def _closing_fence(lines: list[str], opening: int, fence: str, path: Path) -> int:
    for index in range(opening + 1, len(lines)):
        if lines[index].strip() == fence:
            return index
    raise DocsSyntaxError(f"{path.name}:{opening + 1}: the fenced block is never closed")


def _skip_reason(lines: list[str], fence: int, path: Path) -> str | None:
    previous = next((line for line in reversed(lines[:fence]) if line.strip()), "")
    marker = SKIP_MARKER.match(previous.strip())
    if marker is None:
        return None
    reason = marker.group("reason").strip(" :-")
    if not reason:
        raise DocsSyntaxError(f"{path.name}:{fence + 1}: a docs-test skip marker must say why")
    return reason


# --------------------------------------------------------------------------- shell text


@dataclass
class _Scan:
    """Quote state carried from one line to the next."""

    quote: str | None = None


def _code_and_comment(line: str, scan: _Scan) -> tuple[str, str | None, bool]:
    """Split one line into its code and its comment; also tell whether a backslash continues it."""
    index = 0
    while index < len(line):
        char = line[index]
        if scan.quote == "'":
            if char == "'":
                scan.quote = None
        elif scan.quote == '"':
            if char == "\\":
                index += 1
            elif char == '"':
                scan.quote = None
        elif char == "\\":
            if index == len(line) - 1:
                return line[:index], None, True
            index += 1
        elif char in "'\"":
            scan.quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t;|&("):
            return line[:index], line[index + 1 :].strip(), False
        index += 1
    return line, None, False


def _continues(code: str, backslash: bool, scan: _Scan) -> bool:
    """Whether the command goes on on the next line (open quote, trailing backslash, pipe or and/or)."""
    stripped = code.rstrip()
    return backslash or scan.quote is not None or stripped.endswith(("|", "&&", "||"))


def split_commands(text: str, first_line: int, where: str) -> list[Command]:
    """The commands of a block in order, each with the output the documentation shows for it."""
    commands: list[Command] = []
    scan = _Scan()
    pending: list[str] = []  # the lines of a command that goes on
    shown: list[str] = []  # the comment lines of a shown output whose brackets are still open
    start = first_line
    for number, line in enumerate(text.splitlines(), start=first_line):
        if shown:
            shown = _show(commands, [*shown, _comment_only(line, number, where)])
            continue
        if not pending:
            start = number
        code, comment, backslash = _code_and_comment(line, scan)
        if code.strip() or pending:
            pending.append(line)
            if _continues(code, backslash, scan):
                continue  # a comment on a line that goes on is prose
            commands.append(Command(text="\n".join(pending), line=start))
            pending = []
        if comment is not None and comment.startswith(("{", "[")):
            if not commands:
                raise DocsSyntaxError(f"{where}: line {number} shows an output before any command")
            shown = _show(commands, [comment])
    if pending or scan.quote:
        raise DocsSyntaxError(f"{where}: the command starting on line {start} never ends")
    if shown:
        raise DocsSyntaxError(f"{where}: the output shown after line {commands[-1].line} never closes its brackets")
    return commands


def _show(commands: list[Command], parts: list[str]) -> list[str]:
    """Give the last command its shown output once the brackets close; until then, the parts read so far."""
    joined = " ".join(parts)
    if not _balanced(joined):
        return parts
    last = commands[-1]
    commands[-1] = Command(text=last.text, line=last.line, expected=_json_prefix(joined))
    return []


def _comment_only(line: str, number: int, where: str) -> str:
    stripped = line.strip()
    if not stripped.startswith("#"):
        raise DocsSyntaxError(f"{where}: line {number} should go on with the shown output as a comment")
    return stripped[1:].strip()


def _bracket_depth(text: str) -> Iterator[tuple[int, int]]:
    """(index, depth after that character) for every character outside JSON strings."""
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        yield index, depth


def _balanced(text: str) -> bool:
    return any(depth == 0 for _, depth in _bracket_depth(text))


def _json_prefix(text: str) -> str:
    """The shown JSON up to its closing bracket (prose may follow it)."""
    for index, depth in _bracket_depth(text):
        if depth == 0:
            return text[: index + 1]
    return text


# --------------------------------------------------------------------------- shown outputs


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    details: list[str] = field(default_factory=list)


def parse_shown(shown: str) -> Any:
    """JSON with ``...`` placeholders, as a value whose ``...`` are :data:`ELLIPSIS` keys or items."""
    out: list[str] = []
    stack: list[str] = []
    in_string, escaped, index = False, False, 0
    while index < len(shown):
        char = shown[index]
        if in_string:
            in_string = not (char == '"' and not escaped)
            escaped = char == "\\" and not escaped
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
        elif shown.startswith("...", index):
            if not stack:
                raise DocsSyntaxError(f"'...' outside an object or a list in the shown output {shown!r}")
            out.append(f'"{ELLIPSIS}": null' if stack[-1] == "{" else f'"{ELLIPSIS}"')
            index += 3
            continue
        out.append(char)
        index += 1
    try:
        return json.loads("".join(out))
    except json.JSONDecodeError as exc:
        raise DocsSyntaxError(f"the shown output {shown!r} is not JSON (with '...'): {exc}") from exc


def matches(shown: Any, actual: Any) -> bool:
    """Whether an actual JSON value has the shape and values of a parsed shown output."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and _object_matches(shown, actual)
    if isinstance(shown, list):
        return isinstance(actual, list) and _list_matches(shown, actual)
    if isinstance(shown, str):
        return isinstance(actual, str) and _text_matches(shown, actual)
    if isinstance(shown, bool) or shown is None or isinstance(actual, bool):
        return shown is actual
    return bool(shown == actual)


def _object_matches(shown: dict[str, Any], actual: dict[str, Any]) -> bool:
    keys = [key for key in shown if key != ELLIPSIS]
    if ELLIPSIS not in shown and set(actual) != set(keys):
        return False
    return all(key in actual and matches(shown[key], actual[key]) for key in keys)


def _list_matches(shown: list[Any], actual: list[Any]) -> bool:
    items = [item for item in shown if item != ELLIPSIS]
    if ELLIPSIS not in shown:
        return len(items) == len(actual) and all(matches(s, a) for s, a in zip(items, actual, strict=True))
    remaining = iter(actual)  # the shown items, in order, among the actual ones
    return all(any(matches(item, candidate) for candidate in remaining) for item in items)


def _text_matches(shown: str, actual: str) -> bool:
    if "..." not in shown:
        return shown == actual
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def json_values(output: str) -> list[Any]:
    """The JSON documents in a command's output: all of it, an HTTP body after ``curl -i`` headers, SSE data."""
    candidates = [output.strip()]
    if output.startswith("HTTP/"):
        candidates.append(re.split(r"\r?\n\r?\n", output, maxsplit=1)[-1].strip())
    candidates += [line[len("data:") :].strip() for line in output.splitlines() if line.startswith("data:")]
    values = []
    for candidate in candidates:
        try:
            values.append(json.loads(candidate))
        except json.JSONDecodeError:
            continue
    return values


def check_output(expected: str | None, output: str) -> Verdict:
    """The shown output must match; without one, the output must not be an error the reader would not expect."""
    values = json_values(output)
    if expected is None:
        errors = [value for value in values if _is_error(value)]
        return Verdict(False, "printed an error", [json.dumps(errors[0])]) if errors else Verdict(True)
    shown = parse_shown(expected)
    if any(matches(shown, value) for value in values):
        return Verdict(True)
    return Verdict(False, "printed something else than the documentation shows", [f"shown: {expected}"])


def _is_error(value: Any) -> bool:
    """A problem+json body, a JSON-RPC error or a failed tool call."""
    if not isinstance(value, dict):
        return False
    problem = isinstance(value.get("status"), int) and value["status"] >= 400 and "title" in value
    return problem or ("jsonrpc" in value and "error" in value) or value.get("isError") is True
