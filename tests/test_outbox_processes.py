"""Mail and jobs as they fail in production: real server processes (uvicorn), each test on a
database of its own (PostgreSQL or SQLite, as the run), a real SMTP server that is down, slow or
back, and `kill -9`.

A process that dies while sending leaves its message leased for two minutes (outbox.LEASE);
where a test needs that time to pass, it moves the message's due time to now instead of
waiting, and says so.
"""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.pool import NullPool

from contacts_api.config import database_url
from contacts_api.jobs import JOBS
from contacts_api.models import OutboxMessage
from contacts_api.outbox import LEASE
from tests.helpers import sign_up
from tests.served import fresh_database, kill, served_app
from tests.smtp import SmtpServer

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
CONFIRM = "Confirm your email address"
# Retries a second apart, not 30 s: the schedule itself is tested in tests/test_outbox.py.
FAST = {"MAIL_RETRY_FIRST_SECONDS": "1", "SIGNUPS_PER_HOUR": "1000"}


@pytest.fixture
def database() -> Iterator[tuple[str, Any]]:
    """A database of its own (no other process's workers meet its messages), and an engine
    for the test's own reads."""
    with fresh_database() as url:
        engine = create_engine(database_url(url, asynchronous=False), poolclass=NullPool)
        yield url, engine
        engine.dispose()


def outbox(engine: Any) -> list[tuple[str, int, datetime]]:
    """(recipient, attempts, due_at) of each waiting message."""
    with engine.connect() as connection:
        result = connection.execute(
            select(OUTBOX.c.recipient, OUTBOX.c.attempts, OUTBOX.c.due_at).order_by(OUTBOX.c.id)
        )
        return [tuple(row) for row in result]


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def end_leases(engine: Any) -> None:
    """What two minutes would do: every lease of a killed process ends now."""
    with engine.begin() as connection:
        connection.execute(update(OUTBOX).values(due_at=datetime.now(UTC)))


@contextmanager
def server(
    url: str, smtp: SmtpServer, output: list[str] | None = None, **env: str
) -> Iterator[tuple[Any, subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    settings = FAST | {"DATABASE_URL": url, "SMTP_PORT": str(smtp.port)} | env
    with served_app(settings, output=output, processes=processes) as client:
        yield client, processes[0]


def test_a_message_written_while_smtp_is_down_arrives_when_it_is_back(
    database: tuple[str, Any],
) -> None:
    url, engine = database
    smtp = SmtpServer()  # its port chosen, nothing listening yet: the mail server is down
    lines: list[str] = []
    try:
        with server(url, smtp, lines) as (client, _):
            started = time.monotonic()
            sign_up(client, "ann@example.com")
            assert time.monotonic() - started < 1
            wait_for(lambda: [row[:2] for row in outbox(engine)] == [("ann@example.com", 2)])
            smtp.start()
            [message] = smtp.wait_for(1, timeout=20)
            assert (message["To"], message["Subject"]) == ("ann@example.com", CONFIRM)
            wait_for(lambda: outbox(engine) == [])
    finally:
        smtp.stop()
    failures = [line for line in lines if "failed (attempt" in line]
    assert "retrying in 1 s" in failures[0]
    assert any('Mail to ann@example.com: "Confirm your email address" sent' in x for x in lines)


def test_a_server_killed_right_after_a_signup_sends_the_message_after_a_restart(
    database: tuple[str, Any],
) -> None:
    url, engine = database
    with SmtpServer() as smtp:
        smtp.refuse()
        with server(url, smtp) as (client, process):
            sign_up(client, "ann@example.com")
            kill(process)
        [(recipient, _, due_at)] = outbox(engine)
        assert recipient == "ann@example.com"
        if due_at > datetime.now(UTC) + timedelta(seconds=10):
            end_leases(engine)  # killed during an attempt: its lease stands in the way
        smtp.accept()
        with server(url, smtp):
            [message] = smtp.wait_for(1, timeout=20)
            assert message["To"] == "ann@example.com"
            wait_for(lambda: outbox(engine) == [])
            time.sleep(1)
        assert len(smtp.messages) == 1


def test_a_server_killed_while_sending_leaves_the_message_to_the_next_after_its_lease(
    database: tuple[str, Any],
) -> None:
    url, engine = database
    with SmtpServer() as smtp:
        smtp.slow(30)  # the attempt waits on the server when the process dies
        with server(url, smtp) as (client, process):
            sign_up(client, "ann@example.com")
            wait_for(lambda: smtp.attempts == 1)
            kill(process)
        [(_, attempts, due_at)] = outbox(engine)
        # Leased: no other worker takes it before the killed one's attempt could have ended.
        assert attempts == 1
        assert due_at > datetime.now(UTC) + LEASE - timedelta(seconds=30)
        smtp.accept()
        with server(url, smtp):
            time.sleep(1)
            assert smtp.messages == []  # still leased
            end_leases(engine)
            [message] = smtp.wait_for(1, timeout=20)  # the next poll, within 5 s
            assert message["To"] == "ann@example.com"


def test_two_servers_on_one_database_deliver_each_message_once(
    database: tuple[str, Any],
) -> None:
    url, engine = database
    smtp = SmtpServer()  # down while the messages pile up
    first_lines: list[str] = []
    second_lines: list[str] = []
    emails = [f"user{number}@example.com" for number in range(40)]
    try:
        with (
            server(url, smtp, first_lines) as (first, _),
            server(url, smtp, second_lines) as (second, _),
        ):
            for number, email in enumerate(emails):
                sign_up(first if number % 2 else second, email)
            wait_for(lambda: len(outbox(engine)) == 40)
            smtp.start()  # both servers' workers take the backlog at once
            smtp.wait_for(40, timeout=60)
            wait_for(lambda: outbox(engine) == [])
            time.sleep(1)  # a second copy would come now
    finally:
        smtp.stop()
    assert sorted(message["To"] for message in smtp.messages) == sorted(emails)
    sent = [line for line in first_lines + second_lines if '" sent' in line]
    assert len(sent) == 40


def test_the_purge_runs_once_per_due_time_with_two_servers(
    database: tuple[str, Any],
) -> None:
    url, engine = database
    first_lines: list[str] = []
    second_lines: list[str] = []
    with (
        SmtpServer() as smtp,
        server(url, smtp, first_lines),
        server(url, smtp, second_lines),
    ):
        for _ in range(3):
            # The next full hour, three times over, without waiting for it.
            due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
            with engine.begin() as connection:
                connection.execute(
                    update(JOBS).where(JOBS.c.name == "purge-trash").values(due_at=due)
                )
            wait_for(moved_past(engine, due))
            time.sleep(6)  # the other server's next look, which must not run it again
    runs = [
        line.partition("Job purge-trash: running for ")[2]
        for line in first_lines + second_lines
        if "Job purge-trash: running for" in line
    ]
    # The first start's run, then one per due time.
    assert len(runs) == 4
    assert len(set(runs)) == 4


def moved_past(engine: Any, due: datetime) -> Callable[[], bool]:
    """Whether a server has claimed the purge's due time `due` (moved it to the next hour)."""
    return lambda: job_due(engine) > due + timedelta(minutes=1)


def job_due(engine: Any) -> datetime:
    with engine.connect() as connection:
        value: datetime = connection.execute(
            select(JOBS.c.due_at).where(JOBS.c.name == "purge-trash")
        ).scalar_one()
    return value
