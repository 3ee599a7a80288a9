"""How the app answers errors that no route raises itself: always JSON with a `detail`;
and `checked`, for a rule a route adds to its body's, answered like the body's own."""

import json
import logging
from typing import Any, TypeVar

import psycopg
from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.routing import Match

from contacts_api.middleware import SECURITY_HEADERS
from contacts_api.observability import request_id

logger = logging.getLogger("contacts_api")


class AppError(HTTPException):
    """An error answer the app decided on. Any other 400 comes from FastAPI or Starlette
    failing to read the body (bad UTF-8, a broken multipart form, too many fields...)."""


# A database that is down, restarting or out of connections is a condition to wait out,
# not a bug: 503 with a hint when to retry. These classes also hold real bugs, which
# `is_database_unavailable` sorts out.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


async def report_invalid_request(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's usual 422 list, without echoing the input back.

    The input may be a password, or a number such as 1e999 that has no JSON form at all;
    and it is written as ASCII JSON, since a JSON string may hold a lone surrogate ("\\ud800")
    that UTF-8 cannot encode.
    """
    errors = [
        {key: value for key, value in error.items() if key != "input"} for error in exc.errors()
    ]
    content = json.dumps({"detail": jsonable_encoder(errors)})
    return Response(content, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


T = TypeVar("T")


def checked(adapter: TypeAdapter[T], value: Any, field: str) -> T:
    """The body's `field` after the rule that `adapter` holds; else the 422 that FastAPI gives
    for a body that breaks its model, problem for problem (`type`, `loc`, `msg`, `ctx`)."""
    try:
        return adapter.validate_python(value)
    except PydanticValidationError as exc:
        problems = [
            {**problem, "loc": ("body", field, *problem["loc"])}
            for problem in exc.errors(include_url=False)
        ]
        raise RequestValidationError(problems) from None


async def report_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == status.HTTP_400_BAD_REQUEST and not isinstance(exc, AppError):
        # A malformed body is a 422 in the contract: not UTF-8, nested too deep, a number
        # of thousands of digits, a multipart form without its boundary...
        message = f"The body could not be read: {exc.detail}"
        error = {"type": "body_unreadable", "loc": ("body",), "msg": message}
        return await report_invalid_request(request, RequestValidationError([error]))
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette names only the methods of the first route with this path; each method
        # here has a route of its own, so collect them all (RFC 9110 §15.5.6).
        exc.headers = {"Allow": ", ".join(sorted(allowed_methods(request)))}
    return await http_exception_handler(request, exc)


def allowed_methods(request: Request) -> set[str]:
    methods = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = dict(request.scope, method=method)
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return methods


SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk I/O error")


def is_database_unavailable(exc: Exception) -> bool:
    """True for errors to wait out (no connection, shutting down, locked), not schema bugs."""
    if isinstance(exc, PoolTimeout) or getattr(exc, "connection_invalidated", False):
        return True
    original = getattr(exc, "orig", None)
    if isinstance(original, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    # SQLite says "OperationalError" for a missing column as much as for a locked file.
    return str(original).startswith(SQLITE_UNAVAILABLE)


async def report_database_unavailable(_request: Request, exc: Exception) -> Response:
    if not is_database_unavailable(exc):
        raise exc  # a bug: the server's 500, with its traceback in the log
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    logger.warning("Database unavailable: %s", reason)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def report_server_error(_request: Request, _exc: Exception) -> Response:
    # The traceback goes to the log only; the client learns nothing about the code or the SQL.
    # Starlette answers it outside every middleware, SecurityHeaders included: add them here.
    return JSONResponse(
        {"detail": "Internal server error"},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        headers=SECURITY_HEADERS | {"X-Request-ID": request_id.get()},
    )


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, report_invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, report_http_error)  # type: ignore[arg-type]
    for exception_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exception_class, report_database_unavailable)
    app.add_exception_handler(Exception, report_server_error)
