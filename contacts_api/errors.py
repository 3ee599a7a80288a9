"""How the app answers errors that no route raises itself: always JSON with a `detail`."""

import json
import logging

from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.routing import Match

logger = logging.getLogger("contacts_api")

# What FastAPI says of a JSON body it cannot decode at all (not UTF-8).
UNPARSABLE_BODY = "There was an error parsing the body"

# A database that is down, restarting or out of connections is a condition to wait out,
# not a bug: 503 with a hint when to retry, and the traceback stays out of the response.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


async def report_invalid_request(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's usual 422 list, written as ASCII JSON.

    The errors echo the input, and JSON may carry a lone surrogate ("\\ud800") that UTF-8
    cannot encode: the default handler would fail with a 500 while reporting the 422.
    """
    content = json.dumps({"detail": jsonable_encoder(exc.errors())})
    return Response(content, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


async def report_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == UNPARSABLE_BODY:
        # A malformed body is a 422 in the contract, whether bad JSON or bad UTF-8.
        error = {"type": "json_invalid", "loc": ("body",), "msg": "Body is not UTF-8 JSON"}
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


async def report_database_unavailable(_request: Request, exc: Exception) -> Response:
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    logger.warning("Database unavailable: %s", reason)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, report_invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, report_http_error)  # type: ignore[arg-type]
    for exception_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exception_class, report_database_unavailable)
