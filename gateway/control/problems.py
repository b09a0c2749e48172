"""Exception handlers: every error on a REST path leaves as ``application/problem+json``.

The OpenAPI document says the same: :func:`problem_responses` documents error responses with the
``Problem`` schema, and :func:`install_problem_handlers` removes FastAPI's default 422
``HTTPValidationError`` from the document, since validation errors are 400 problems here.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from gateway.errors import (
    PROBLEM_CONTENT_TYPE,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    Problem,
    problem_body,
)
from gateway.models import ProblemDetails, shown

log = logging.getLogger(__name__)

PROBLEM_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each bad field (malformed JSON or a duplicate key is the field `body`)",
    401: "Authentication required",
    403: "Not permitted",
    404: "No such resource",
    409: "Name already used, or changed concurrently",
    412: "If-Match names an older version",
    413: "Request body too large",
    502: "A store or runtime failed, or the stored record is damaged",
    503: "Not ready",
}
_PROBLEM_SCHEMA = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes: problem+json bodies of the ``Problem`` schema."""
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code: {"description": PROBLEM_DESCRIPTIONS[code], "content": content} for code in codes}


def _problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.to_json(), status_code=problem.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _field_name(error: dict[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        return "body"  # its location is a character offset, which the message gives
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    # Dict keys are part of the location; they are the client's text, so escape what could not be sent back.
    parts = [shown(str(p), 80) for p in loc]
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
    return [FieldProblem(_field_name(e), _message(e)) for e in errors]


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
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.internal_detail)
    return JSONResponse(
        problem_body(exc, request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=exc.headers or None,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _documented_methods(request) or headers.get("Allow", "")
    return _problem_response(Problem(exc.status_code, detail, detail, [], request.url.path), headers)


def _documented_methods(request: Request) -> str | None:
    """Every method the OpenAPI document lists for the request's path, or None for undocumented paths.

    FastAPI's own ``Allow`` names only the first route that matched the path: POST for ``/adapters``,
    although GET is there too.
    """
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern, _, _ = compile_path(template)
        if pattern.match(request.url.path):
            return ", ".join(sorted(method.upper() for method in operations))
    return None


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
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = app.openapi_schema
        if document is None:
            document = _without_http_validation_errors(generate())
            app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


def _without_http_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the 422 that FastAPI adds to every operation with parameters, and add the ``Problem`` schema."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_PROBLEM_SCHEMA.get("$defs", {}))
    schemas["Problem"] = {k: v for k, v in _PROBLEM_SCHEMA.items() if k != "$defs"}
    return document
