"""Test set-up: a real database built by the migrations, emptied before every test.

The database comes from TEST_DATABASE_URL (default: the PostgreSQL server on 127.0.0.1:5432,
in a database `contacts_api_test_<pid>` created for the run and dropped after it). If no
server answers there but PostgreSQL's server programs are installed, a throwaway cluster is
started for the run.
`TEST_DATABASE_URL=sqlite:///...` runs the same tests on SQLite.
"""

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import URL, create_engine, func, make_url, select, text
from sqlalchemy.pool import NullPool

from tests.helpers import new_user
from tests.pgcluster import can_start_cluster, free_port, start_cluster
from tests.smtp import SmtpServer

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
# One database per run, dropped after it: two runs on one server never meet.
TEST_DATABASE = f"contacts_api_test_{os.getpid()}"

# The app reads its settings once, at import: set them before any test imports it. Only
# these: a developer's `.env` is not read (servers started by tests inherit this too).
os.environ["CONTACTS_API_ENV_FILE"] = ""
os.environ["SECRET_KEY"] = "test-key-not-secret-0123456789abcdefghijklmnop"
os.environ["BCRYPT_ROUNDS"] = "4"  # bcrypt's minimum: a login costs a millisecond, not 250


def _answers(url: URL) -> bool:
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=3):
            return True
    except OSError:
        return False


def _throwaway_cluster(wanted: URL) -> tuple[URL, Any]:
    """Start a temporary PostgreSQL with the installed server programs, or stop the run."""
    if not can_start_cluster():
        pytest.exit(
            f"No PostgreSQL answers at {wanted.host}:{wanted.port} and its server programs "
            "(pg_ctl) are not installed: point TEST_DATABASE_URL at a server, for example "
            "`docker compose up -d db` and then TEST_DATABASE_URL="
            "postgresql+psycopg://contacts:contacts@127.0.0.1:5432/ make test (see the README).",
            returncode=2,
        )
    return start_cluster()


def _prepare_database() -> tuple[str, Callable[[], None]]:
    """Create an empty test database, migrate it, and return its URL and a clean-up."""
    wanted = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER))
    if wanted.get_backend_name() == "sqlite":
        path = os.path.join(tempfile.mkdtemp(prefix="contacts-api-"), "test.db")
        url = f"sqlite:///{path}"
        stop = lambda: None  # noqa: E731
    else:
        server, executor = (wanted, None) if _answers(wanted) else _throwaway_cluster(wanted)
        admin = create_engine(
            server.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {TEST_DATABASE}"))
        url = server.set(database=TEST_DATABASE).render_as_string(hide_password=False)

        def stop() -> None:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)"))
            admin.dispose()
            if executor:
                executor.stop()

    alembic_config = Config("alembic.ini")
    alembic_config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(alembic_config, "head")
    return url, stop


_stop_database: Callable[[], None] = lambda: None  # noqa: E731
# A real SMTP server in this process: every message the app sends during the run lands here,
# the app's under test and those of the servers that tests start (they inherit SMTP_HOST).
SMTP = SmtpServer()


def pytest_configure() -> None:
    global _stop_database
    url, _stop_database = _prepare_database()
    os.environ["DATABASE_URL"] = url
    SMTP.start()
    os.environ |= {
        "SMTP_HOST": SMTP.host,
        "SMTP_PORT": str(SMTP.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "contacts_api <no-reply@contacts.test>",
        "PUBLIC_URL": "http://contacts.test",
    }


def pytest_unconfigure() -> None:
    SMTP.stop()
    _stop_database()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say last, and plainly, what this run could not test and why: a skipped test is a
    behaviour nobody checked (the browser, the database outages)."""
    reasons = sorted(
        {
            str(report.longrepr[2]).removeprefix("Skipped: ")
            for report in terminalreporter.stats.get("skipped", [])
            if isinstance(report.longrepr, tuple)
        }
    )
    if reasons:
        terminalreporter.section("NOT TESTED on this machine", yellow=True)
        for reason in reasons:
            terminalreporter.write_line(f"NOTE: {reason}")


def pytest_report_header() -> str:
    return f"database: {make_url(os.environ['DATABASE_URL']).render_as_string()}"


@pytest.fixture(scope="session")
def app_client() -> Iterator[TestClient]:
    from contacts_api.main import app

    # One client (one event loop) for the whole run: the connection pool belongs to it.
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def sync_engine() -> Iterator[Any]:
    from contacts_api.config import database_url

    engine = create_engine(database_url(os.environ["DATABASE_URL"], asynchronous=False))
    yield engine
    engine.dispose()


@pytest.fixture
def client(app_client: TestClient, sync_engine: Any) -> Iterator[TestClient]:
    """The app, over an empty database and with fresh rate-limit counters."""
    from contacts_api.ratelimit import storage

    app_client.portal.call(storage.reset)  # type: ignore[union-attr]
    wait_until_mail_is_sent()  # nothing of an earlier test's lands in this one's mailbox
    with sync_engine.begin() as connection:
        if sync_engine.dialect.name == "postgresql":
            # `contacts` first: TRUNCATE locks the tables in this order, and a purge of the
            # trash still running in the app holds `contacts` while its trigger reads `users`
            # (migration 0013); taking `users` first deadlocked with it.
            connection.execute(
                text(
                    "TRUNCATE contacts, contact_changes, users, auth_sessions, labels,"
                    " contact_labels, birthday_calendars, reminder_settings, outbox,"
                    " sync_states, app_passwords CASCADE"
                )
            )
        else:
            for table in (
                "outbox",
                "reminder_settings",
                "birthday_calendars",
                "app_passwords",
                "contact_labels",
                "labels",
                "contacts",
                # After `contacts`, whose triggers write tombstones (the users still exist).
                "contact_changes",
                "sync_states",
                "auth_sessions",
                "users",
            ):
                connection.execute(text(f"DELETE FROM {table}"))
    yield app_client
    app_client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    app_client.cookies.clear()


@pytest.fixture
def pin_now(client: TestClient) -> Callable[[datetime], None]:
    """Make the app believe it is `instant` (for 'today' in birthday queries)."""
    from contacts_api.deps import get_now

    def pin(instant: datetime) -> None:
        client.app.dependency_overrides[get_now] = lambda: instant.astimezone(UTC)  # type: ignore[attr-defined]

    return pin


@pytest.fixture
def ann(client: TestClient) -> dict[str, str]:
    return new_user(client, "ann@example.com")


@pytest.fixture
def bob(client: TestClient) -> dict[str, str]:
    return new_user(client, "bob@example.com")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty Redis database: the machine's on 127.0.0.1:6379, else a throwaway server.
    TEST_REDIS_DB picks the database number (default 15), so that two test runs at once on one
    machine do not empty each other's counters."""
    db = int(os.environ.get("TEST_REDIS_DB", "15"))
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
        url, server = f"redis://127.0.0.1:6379/{db}", None
    except OSError:
        if shutil.which("redis-server") is None:
            pytest.fail("needs Redis: start one (`docker compose up -d redis`) or install it")
        port = free_port()
        server = subprocess.Popen(["redis-server", "--port", str(port), "--save", ""])
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{port}/{db}"
    flush(url)
    yield url
    flush(url)
    if server:
        server.terminate()
        server.wait()


def flush(url: str) -> None:
    import asyncio

    from coredis import Redis

    async def flushdb() -> None:
        await Redis.from_url(url).flushdb()

    asyncio.run(flushdb())


def wait_until_mail_is_sent() -> None:
    """Wait until the app's outbox workers have no message due and none in progress, so that no
    late message lands in the next test's mailbox or log (a message waiting for a retry stays
    in the table, which the `client` fixture empties)."""
    from contacts_api.config import database_url
    from contacts_api.models import OutboxMessage, utc_now
    from contacts_api.outbox import workers

    engine = _outbox_engine(database_url(os.environ["DATABASE_URL"], asynchronous=False))
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            due = connection.execute(
                select(func.count()).where(outbox.c.due_at <= utc_now())
            ).scalar_one()
        if due == 0 and workers.delivering == 0:
            return
        time.sleep(0.01)


@functools.cache
def _outbox_engine(url: URL) -> Any:
    return create_engine(url, poolclass=NullPool)


@pytest.fixture
def mailbox(client: TestClient) -> Iterator[SmtpServer]:
    """The test SMTP server, with no message yet; accepting, whatever a test set before."""
    SMTP.accept()
    wait_until_mail_is_sent()
    SMTP.clear()
    yield SMTP
    SMTP.accept()


@pytest.fixture
def trash_purger(client: TestClient) -> Iterator[Any]:
    """The app's trash purger (run by the lifespan's job scheduler), its settings restored
    afterwards."""
    from contacts_api.trash import purger

    saved = dict(vars(purger))
    yield purger
    for name in ("backlog_interval", "batch", "timeout", "clock"):
        setattr(purger, name, saved[name])
    vars(purger).pop("purge_once", None)  # a test's stand-in for one run


@pytest.fixture
def background_stopped(client: TestClient) -> Iterator[None]:
    """The app's outbox workers and job scheduler stopped for the test, started again after:
    for a test that counts the app's connections or statements, which they would add to."""
    from contacts_api.jobs import scheduler
    from contacts_api.outbox import workers

    client.portal.call(workers.stop)  # type: ignore[union-attr]
    client.portal.call(scheduler.stop)  # type: ignore[union-attr]
    yield
    client.portal.call(scheduler.start)  # type: ignore[union-attr]
    client.portal.call(workers.start)  # type: ignore[union-attr]


# The statements of the background loops (contacts_api/outbox.py, contacts_api/jobs.py).
BACKGROUND_POLL = re.compile(r"^(SELECT|UPDATE|DELETE)\b.*?\b(FROM|UPDATE) (outbox|jobs)\b", re.S)


@pytest.fixture
def sql_statements(client: TestClient, background_stopped: None) -> Iterator[list[str]]:
    """Every SQL statement the app's requests run during the test, in order (clear it to start
    anew). The background work (the outbox's workers, the jobs: the reminders, the purge) runs
    on the same engine at any moment: it is stopped for the test, and its polls are left out
    should one be under way as it stops."""
    from sqlalchemy import event

    from contacts_api.db import engine

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not BACKGROUND_POLL.search(statement):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine.sync_engine, "before_cursor_execute", record)
