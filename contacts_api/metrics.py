"""Prometheus metrics: how many requests each route answered, and how fast.

A request is named by the path the OpenAPI document gives its route
(`/api/contacts/{contact_id}`), never by its raw path, so that the number of series stays
fixed; a path that no route serves is `none`. The router has already chosen the route when the
answer goes out (`scope["route"]`), so naming a request costs a dictionary lookup.

prometheus_client's own counters, not prometheus-fastapi-instrumentator (used until issue 13):
to name a request, the instrumentator matched its path against every route of the app once
more, 0.13 to 0.21 ms of CPU per request, an eighth to a sixth of GET one contact's
(docs/performance.md).
"""

import os
import re
import time
from collections.abc import Callable, Iterable

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The names, labels and label order that prometheus-fastapi-instrumentator used, so that
# dashboards built on them keep working; the histogram has prometheus-client's default buckets.
REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by documented path, method and status class (2xx, 4xx, ...).",
    ["handler", "method", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Seconds from the request's arrival to the end of its answer, by documented path and method.",
    ["handler", "method"],
)

# "{contact_id:id}" in a route's path: a parameter and the convertor that matches it.
PATH_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def documented_path(path: str) -> str:
    """A route's path as the OpenAPI document writes it: `{contact_id}`, not the router's
    `{contact_id:id}`."""
    return PATH_CONVERTOR.sub(r"{\1}", path)


class RequestMetrics:
    """Count every HTTP request but those of /metrics, and time it, per documented path.

    `paths` gives each route (by `id`: Starlette's routes compare by value and cannot be
    dictionary keys) its full path; it is called once, when the first request builds the
    middleware stack, after every route has been added.
    """

    def __init__(self, app: ASGIApp, paths: Callable[[], Iterable[tuple[BaseRoute, str]]]) -> None:
        self.app = app
        self.paths = {id(route): documented_path(path) for route, path in paths()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception that escapes the app is a 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            handler = self.paths.get(id(scope.get("route")), "none")
            if handler != "/metrics":
                method = scope["method"]
                REQUESTS.labels(handler, method, f"{status // 100}xx").inc()
                DURATION.labels(handler, method).observe(time.perf_counter() - started)


class Fixed:
    """A collector of metrics read just now (from the database, not from this process)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def outbox_metrics() -> bytes:
    """How many messages wait in the outbox and the age of the oldest: read from the database
    at each scrape, so every process answers alike; nothing if the database does not answer."""
    from contacts_api.outbox import workers  # the app's, imported late: it needs the engine

    try:
        count, oldest = await workers.waiting()
    except (SQLAlchemyError, OSError):
        return b""
    age = 0.0 if oldest is None else max(0.0, (workers.clock() - oldest).total_seconds())
    registry = CollectorRegistry(auto_describe=False)
    messages = GaugeMetricFamily(
        "mail_outbox_messages", "Messages written and not delivered yet.", value=count
    )
    oldest_age = GaugeMetricFamily(
        "mail_outbox_oldest_age_seconds",
        "Seconds since the oldest message still waiting was written; 0 when none waits.",
        value=age,
    )
    registry.register(Fixed([messages, oldest_age]))
    return generate_latest(registry)


async def read_metrics() -> Response:
    """The metrics in Prometheus' text format: with several workers (PROMETHEUS_MULTIPROC_DIR
    set), the sums of every worker's files, whichever worker answers; then the outbox's."""
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry) + await outbox_metrics()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
