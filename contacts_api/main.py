"""The FastAPI application: routers, health checks and docs. The schema comes from Alembic."""

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute

from contacts_api.config import get_settings
from contacts_api.dav import routes as dav
from contacts_api.dav.props import MAX_CARD_BYTES
from contacts_api.db import engine
from contacts_api.errors import add_error_handlers
from contacts_api.jobs import scheduler
from contacts_api.metrics import RequestMetrics, read_metrics
from contacts_api.middleware import BodySizeLimit, SecurityHeaders
from contacts_api.models import ServiceStatus
from contacts_api.observability import RequestId, configure_logging
from contacts_api.outbox import workers as mail_workers
from contacts_api.reminders import REMINDER_JOB
from contacts_api.routes import (
    app_passwords,
    auth,
    birthdays,
    calendar,
    changes,
    contacts,
    import_export,
    labels,
    pages,
    recovery,
    reminders,
    trash,
    users,
)
from contacts_api.trash import PURGE_JOB

settings = get_settings()
configure_logging(settings.LOG_FORMAT)
# The trash empties itself on its own schedule, no request needed (contacts_api/trash.py).
scheduler.add(PURGE_JOB)
# Birthday reminders go out at each user's hour, checked every few minutes (reminders.py).
scheduler.add(REMINDER_JOB)

DESCRIPTION = """
Keep your own address book: sign up, log in, and create, search and update your contacts.

**Try it here:** `POST /api/auth/signup`, then **Authorize** with your email as the username
and your password. Every contact route then answers for your address book only.
"""


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # What start-up built (routes, models, schemas, the SQL) lives as long as the process: the
    # collector leaves it alone from now on instead of walking it again and again, and runs
    # once per 10,000 new objects, not 700 (a week of birthdays makes about 9,000). Of the CPU
    # of birthdays at 100,000 contacts, collections took 3.8 ms a request before, 0.05 after.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    # Messages go out from the outbox's workers, after the answers that caused them, and
    # those that waited while the service was down go first (contacts_api/outbox.py).
    started = mail_workers.start()
    # The periodic jobs (the trash's purge, ...), once per due time across every process and
    # replica (contacts_api/jobs.py).
    scheduling = scheduler.start()
    yield
    if scheduling:
        await scheduler.stop()
    if started:
        await mail_workers.stop()
    # Close pooled connections on shutdown instead of leaving them to the server's timeout.
    await engine.dispose()


# The groups of /docs and /redoc, in the order a new user needs them.
TAGS = [
    {"name": "auth", "description": "Sign up, log in, refresh, log out; verify and recover."},
    {"name": "users", "description": "Your account: read, change, delete; your password."},
    {
        "name": "app passwords",
        "description": "A password for each device that syncs your book over CardDAV.",
    },
    {"name": "contacts", "description": "Your address book, its search, birthdays and trash."},
    {"name": "import and export", "description": "vCard and CSV, in and out."},
    {"name": "labels", "description": "Your labels and how many contacts carry each."},
    {
        "name": "birthday calendar",
        "description": "A secret address that calendar programs subscribe to.",
    },
    {
        "name": "birthday reminders",
        "description": "A message on the days your contacts' birthdays come near.",
    },
    {"name": "pages", "description": "The pages that the messages' links open."},
    {"name": "service", "description": "Liveness and readiness."},
]


# FastAPI as usual, but /docs and /redoc load Swagger UI and ReDoc from this server
# (/static-offline-docs), not from a CDN: they work offline and under a strict CSP.
app = FastAPIOffline(
    title="contacts_api",
    version="1.0.0",
    description=DESCRIPTION,
    openapi_tags=TAGS,
    lifespan=lifespan,
    swagger_ui_parameters={"persistAuthorization": True},
    # Operation ids read like the functions (`create_contact`), for generated clients.
    generate_unique_id_function=lambda route: route.name,
)


add_error_handlers(app)
app.add_middleware(
    BodySizeLimit,
    max_bytes=settings.MAX_BODY_BYTES,
    larger={("POST", "/api/contacts/import"): settings.MAX_IMPORT_BYTES},
    # A card over CardDAV's 1 MiB gets its 403 CARD:max-resource-size up to twice that.
    larger_under={("PUT", "/dav/"): 2 * MAX_CARD_BYTES},
)
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
# Outside the middleware above, so that every answer, a 413 or a 429 too, carries the id.
app.add_middleware(RequestId)


# Every router of the API under /api, and the account pages that its messages link to at the top.
# The contacts first: the app tries the routes in this order, and theirs are the busiest (GET
# one contact took 4 % less CPU than after auth's and users'). TAGS keeps the docs' order.
# The fixed paths of the contacts' group (`/birthdays`, `/trash`, `/changes`) may come after
# `/{contact_id:id}`: that one takes digits only, so it never takes them for an id.
ROUTERS: list[tuple[APIRouter, str]] = [
    (contacts.router, "/api"),
    (birthdays.router, "/api"),
    (trash.router, "/api"),
    (changes.router, "/api"),
    (auth.router, "/api"),
    (recovery.router, "/api"),
    (users.router, "/api"),
    (app_passwords.router, "/api"),
    (import_export.router, "/api"),
    (labels.router, "/api"),
    (calendar.router, "/api"),
    (reminders.router, "/api"),
    (calendar.feed_router, ""),
    (dav.router, ""),
    (pages.router, ""),
]
for router, prefix in ROUTERS:
    app.include_router(router, prefix=prefix)


def route_paths() -> Iterator[tuple[BaseRoute, str]]:
    """Every route the app serves, with its full path."""
    for route in app.router.routes:
        path = getattr(route, "path", None)  # an included router has none of its own
        if path is not None:
            yield route, path
    for router, prefix in ROUTERS:
        for route in router.routes:
            yield route, prefix + getattr(route, "path", "")


if settings.METRICS_ENABLED:
    # Outermost, so that it times everything and counts every answer, a 413 or a 429 too (one
    # that no route chose, such as a 413 for a declared size or a CORS preflight, as `none`).
    app.add_middleware(RequestMetrics, paths=route_paths)
    app.add_api_route("/metrics", read_metrics, include_in_schema=False)


def openapi_document() -> dict[str, Any]:
    """FastAPI's OpenAPI document, its paths in the order of TAGS, less the 422 it lists for
    every route with a parameter.

    The app holds the routes in the order it tries them (ROUTERS), the document in the order a
    reader needs them. Routes whose only parameter is a contact id in the path cannot answer
    422: the path convertor takes 1 to 10 digits, and any other path is no contact's (404).
    Nor can the optional text headers `If-Match` and `If-None-Match` beside it.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = FastAPI.openapi(app)  # built once, then kept in app.openapi_schema
    order = {tag["name"]: place for place, tag in enumerate(TAGS)}

    def place(operations: dict[str, Any]) -> int:
        tags = next(iter(operations.values())).get("tags") or [None]
        return order.get(tags[0], len(order))  # a tag not in TAGS: last

    document["paths"] = dict(sorted(document["paths"].items(), key=lambda path: place(path[1])))
    for operations in document["paths"].values():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            if "requestBody" not in operation and all(
                p["in"] in ("path", "header") for p in parameters
            ):
                operation["responses"].pop("422", None)
    return document


app.openapi = openapi_document  # type: ignore[method-assign]


@app.get("/health", tags=["service"])
async def read_health() -> ServiceStatus:
    """200 while the process runs."""
    return ServiceStatus(status="ok")


@app.get(
    "/health/ready",
    tags=["service"],
    responses={
        503: {
            "model": ServiceStatus,
            "description": "The database does not answer",
            "content": {"application/json": {"example": {"status": "unavailable"}}},
        }
    },
)
async def read_readiness(response: Response) -> ServiceStatus:
    """200 when the database answers a query, else 503."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ServiceStatus(status="unavailable")
    return ServiceStatus(status="ok")
