"""Exception handlers: every error on a REST path leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import (
    PROBLEM_CONTENT_TYPE,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    Problem,
    problem_body,
)

log = logging.getLogger(__name__)


def _problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.to_json(), status_code=problem.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    parts = [str(p) for p in loc]
    # Model validators report at the model level; name the body itself then.
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "is not a known field (see the API reference); unknown fields are rejected"
    if kind == "json_invalid":
        return f"is not valid JSON: {error.get('ctx', {}).get('error', 'malformed')}"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def field_problems(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    return [FieldProblem(_field_name(tuple(e.get("loc", ()))), _message(e)) for e in errors]


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = field_problems(list(exc.errors()))
    error = InvalidRequest(
        "One or more fields are invalid: " + "; ".join(f"{p.field} {p.message}" for p in problems)[:2000], problems
    )
    return _problem_response(Problem(400, error.title, error.detail, problems, request.url.path))


async def _on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.detail)
    return JSONResponse(
        problem_body(exc, request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=exc.headers or None,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return _problem_response(Problem(exc.status_code, detail, detail, [], request.url.path), dict(exc.headers or {}))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never a stack trace on the wire: log it, answer a generic problem.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _problem_response(
        Problem(500, "Internal error", "The gateway hit an unexpected error; see its logs.", [], request.url.path)
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
