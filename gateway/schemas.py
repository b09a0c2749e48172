"""JSON Schema validation that a tool author cannot turn against the gateway or the tool router.

Tool definitions carry user-written schemas (``inputSchema``, ``outputSchema``) that the router applies
to every call. The stock ``jsonschema`` validator would:

- fetch any remote ``$ref`` with a blocking ``urlopen`` (an SSRF that also bypasses the connect-time
  address policy, and freezes the event loop while the target answers);
- match ``pattern`` and ``patternProperties`` with Python's backtracking ``re`` (``^(a|a)+$`` against a
  few dozen characters blocks the router for seconds; it grows exponentially);
- recurse without end on a ``$ref`` cycle.

So: references may only point inside the schema (``#...``), resolved from an empty registry that never
retrieves anything; patterns are matched by RE2, whose time is linear in the input; a pattern RE2 cannot
compile (back-references, look-around) is refused when the tool is registered.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import SchemaError
from referencing import Registry

REFERENCE_KEYWORDS = ("$ref", "$dynamicRef")


class UnsafeSchema(ValueError):
    """A schema the gateway refuses to apply (a remote reference, a pattern RE2 cannot run)."""


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_SafeValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties}
)
_NO_RETRIEVAL: Registry[Any] = Registry()


def check_tool_schema(schema: dict[str, Any]) -> None:
    """Raise :class:`UnsafeSchema` (or ``SchemaError``) unless ``schema`` is safe to apply to calls."""
    Draft202012Validator.check_schema(schema)
    for keyword, value in _walk(schema):
        # A property may be *named* "$ref" (its value is then a schema object); only string values refer.
        if keyword in REFERENCE_KEYWORDS and isinstance(value, str) and not value.startswith("#"):
            raise UnsafeSchema(f"{keyword} {value!r} points outside the schema; only local references (#...) work")
        if keyword == "pattern" and isinstance(value, str):
            _check_pattern(value)
        if keyword == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                _check_pattern(pattern)


def safe_validator(schema: dict[str, Any]) -> Any:
    """A validator for ``schema`` that never fetches and matches patterns in linear time."""
    return _SafeValidator(schema, registry=_NO_RETRIEVAL)


def _check_pattern(pattern: str) -> None:
    try:
        _compiled(pattern)
    except re2.error as exc:
        raise UnsafeSchema(
            f"pattern {pattern!r} uses a feature the gateway's linear-time matcher does not support ({exc})"
        ) from None


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (keyword, value) pair in a JSON value, without recursion (schemas are user input)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                yield str(key), value
                stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


__all__ = ["SchemaError", "UnsafeSchema", "check_tool_schema", "safe_validator"]
