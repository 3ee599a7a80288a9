"""Request ids and log lines: every response names its request, and every log line too.

The id comes from the request's `X-Request-ID` when it is a sensible one (a proxy or client
may set it to follow a request across services), else it is made here.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Printable, short and free of anything a log reader or a header could trip on.
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        current = given if ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
        request_id.set(current)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = current
            await send(message)

        await self.app(scope, receive, send_with_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


# Secrets that travel in URLs: the birthday calendar's address is its only key, and the links
# in messages carry one-time tokens. Logs are read by more people than mail: the access log
# shows these parts as "***".
URL_SECRETS = re.compile(r"(/calendars/birthdays/)[^/?\s]+(\.ics)|([?&]token=)[^&\s]*")


def redact(text: str) -> str:
    return URL_SECRETS.sub(lambda m: f"{m[1]}***{m[2]}" if m[1] else f"{m[3]}***", text)


class RedactSecrets(logging.Filter):
    """Takes the secrets out of uvicorn's access lines (their path is one of the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def configure_logging(log_format: str) -> None:
    """Give every log record the request id, and every handler the chosen format."""
    make_record = logging.getLogRecordFactory()

    def make_record_with_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    if not getattr(make_record, "adds_request_id", False):
        make_record_with_id.adds_request_id = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(make_record_with_id)

    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
        root.setLevel(logging.INFO)
    # uvicorn sets up its own loggers before it loads the app: give them the format too.
    loggers = [root, *(logging.getLogger(name) for name in ("uvicorn", "uvicorn.access"))]
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
