"""Request bodies parsed strictly: the JSON a client sent means one thing, or it is a 400.

``json.loads`` is lenient where a JSON text is ambiguous or not portable: a duplicate key keeps its last
value (``{"name":"a","name":"b"}`` could be checked as one name and acted on as the other by another
parser), ``NaN`` and ``Infinity`` are accepted although JSON has neither (and cannot write them back),
``1e400`` becomes infinity, and any encoding is guessed. :func:`loads_strictly` refuses all of these, and
bodies nested deeper than :data:`MAX_BODY_DEPTH`: whether the parser runs out of stack first depends on
the Python version, and nothing behind it needs to recurse that deep.

FastAPI reads bodies through ``Request.json()``; :class:`StrictJsonRoute` gives its handlers a request
whose ``json()`` is :func:`loads_strictly`. A failure is a ``json.JSONDecodeError``, which FastAPI turns
into the usual validation problem (400, field ``body``). Reading the body still goes through
``BodyLimitMiddleware``, so an oversized body stays a 413.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from gateway.models import shown

MAX_BODY_DEPTH = 64
"""Objects and arrays nested in one body. Free-form values inside have their own, lower limit
(``gateway.models.MAX_JSON_DEPTH``), which names the field."""


class StrictJsonError(json.JSONDecodeError):
    """A body that is well-formed enough for ``json.loads`` but not unambiguous, portable JSON."""


def loads_strictly(body: bytes) -> Any:
    """Parse a UTF-8 JSON body; duplicate keys, NaN, infinities and overflowing numbers are errors."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError(f"the body is not UTF-8 (byte {exc.start})", "", 0) from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise StrictJsonError(f"the body is nested deeper than {MAX_BODY_DEPTH} levels", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise StrictJsonError(f"a value cannot be read: {exc}", text, 0) from None
    _refuse_deep(value, text)
    return value


def _refuse_deep(value: Any, text: str) -> None:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_BODY_DEPTH:
            raise StrictJsonError(f"the body is nested deeper than {MAX_BODY_DEPTH} levels", text, 0)
        pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJsonError(f'the key "{shown(key, 60)}" appears twice in one object', "", 0)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not JSON", "", 0)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError(f"the number {shown(text, 40)} is too large", "", 0)
    return value


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            self._strict_json = loads_strictly(await self.body())
        return self._strict_json


class StrictJsonRoute(APIRoute):
    """An ``APIRoute`` whose handler reads JSON bodies with :func:`loads_strictly`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
