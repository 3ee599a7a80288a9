"""The FastAPI application: routers, health checks and docs. The schema comes from Alembic."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from contacts_api.config import get_settings
from contacts_api.db import engine
from contacts_api.middleware import BodySizeLimit, SecurityHeaders
from contacts_api.routes import auth, contacts

logger = logging.getLogger("contacts_api")
settings = get_settings()

DESCRIPTION = """
Keep your own address book: sign up, log in, and create, search and update your contacts.

**Try it here:** `POST /api/auth/signup`, then **Authorize** with your email as the username
and your password. Every contact route then answers for your address book only.
"""


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    # Close pooled connections on shutdown instead of leaving them to the server's timeout.
    await engine.dispose()


app = FastAPI(
    title="contacts_api",
    version="1.0.0",
    description=DESCRIPTION,
    lifespan=lifespan,
    swagger_ui_parameters={"persistAuthorization": True},
    # Operation ids read like the functions (`create_contact`), for generated clients.
    generate_unique_id_function=lambda route: route.name,
)


@app.exception_handler(RequestValidationError)
async def report_invalid_request(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's usual 422 list, written as ASCII JSON.

    The errors echo the input, and JSON may carry a lone surrogate ("\\ud800") that UTF-8
    cannot encode: the default handler would fail with a 500 while reporting the 422.
    """
    content = json.dumps({"detail": jsonable_encoder(exc.errors())})
    return Response(content, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


# A database that is down, restarting or out of connections is a condition to wait out,
# not a bug: 503 with a hint when to retry, and the traceback stays out of the response.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


async def report_database_unavailable(_request: Request, exc: Exception) -> Response:
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    logger.warning("Database unavailable: %s", reason)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


for exception_class in DATABASE_UNAVAILABLE:
    app.add_exception_handler(exception_class, report_database_unavailable)

app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_BODY_BYTES)
if settings.cors_origins:
    # Bearer tokens, not cookies: browsers on these origins may call the API, without
    # credentials mode.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
    )
app.add_middleware(SecurityHeaders)

app.include_router(auth.router, prefix="/api")
app.include_router(contacts.router, prefix="/api")


@app.get("/health", tags=["service"])
async def read_health() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


@app.get(
    "/health/ready",
    tags=["service"],
    responses={503: {"description": "The database does not answer"}},
)
async def read_readiness(response: Response) -> dict[str, str]:
    """200 when the database answers a query, else 503."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable"}
    return {"status": "ok"}
