"""The outbox in the app under test: messages written in the transaction of their change,
delivered by the app's workers through the real SMTP server of the suite, retried on a schedule
whose clock the tests pin (`outbox_workers.clock`), and deleted once delivered.

The failures that need real processes (a crash, two servers, a restart) are in
tests/test_outbox_processes.py.
"""

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from contacts_api.models import OutboxMessage
from contacts_api.outbox import LONGEST_DELAY, retry_delay
from tests.helpers import PASSWORD, bearer, log_in, sign_up
from tests.smtp import SmtpServer

CONFIRM = "Confirm your email address"
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


def rows(sync_engine: Any) -> list[tuple[str, str, int]]:
    """The outbox: (recipient, subject, attempts) of each message, oldest first."""
    with sync_engine.connect() as connection:
        result = connection.execute(
            text("SELECT recipient, subject, attempts FROM outbox ORDER BY id")
        )
        return [tuple(row) for row in result]


def settled(workers: Any, sync_engine: Any) -> list[tuple[str, str, int]] | None:
    """The outbox once no attempt is in progress (a claim counts the attempt before it fails),
    else None."""
    return None if workers.delivering else rows(sync_engine)


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def outbox_workers(client: TestClient, sync_engine: Any) -> Iterator[Any]:
    """The app's outbox workers, their clock given back afterwards."""
    from contacts_api.outbox import workers

    clock = workers.clock
    yield workers
    workers.clock = clock
    with sync_engine.begin() as connection:  # no retry of this test's meets the next one
        connection.execute(text("DELETE FROM outbox"))


def test_the_retry_delays_start_at_the_first_and_double_up_to_an_hour() -> None:
    delays = [retry_delay(attempts, 30).total_seconds() for attempts in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(1000, 30) == LONGEST_DELAY


def test_a_signup_writes_its_message_which_is_delivered_and_then_deleted(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any
) -> None:
    sign_up(client, "ann@example.com")
    [message] = mailbox.wait_for(1)
    assert (message["To"], message["Subject"]) == ("ann@example.com", CONFIRM)
    wait_for(lambda: rows(sync_engine) == [])


def test_a_change_that_is_rolled_back_leaves_no_message(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any
) -> None:
    sign_up(client, "ann@example.com")
    sign_up(client, "bob@example.com")
    mailbox.wait_for(2)
    mailbox.clear()
    tokens = log_in(client, "ann@example.com")
    # Taken: the change's commit fails (409), and with it the verification and the notice it
    # wrote first.
    taken = client.patch(
        "/api/users/me",
        headers=bearer(tokens),
        json={"email": "bob@example.com", "current_password": PASSWORD},
    )
    assert taken.status_code == 409
    time.sleep(0.3)
    assert rows(sync_engine) == []
    assert mailbox.messages == []


def test_a_message_the_server_refuses_waits_for_its_retry_and_then_arrives(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any, outbox_workers: Any
) -> None:
    mailbox.refuse()
    sign_up(client, "ann@example.com")
    wait_for(lambda: settled(outbox_workers, sync_engine) == [("ann@example.com", CONFIRM, 1)])
    mailbox.accept()
    client.portal.call(outbox_workers.wake)  # type: ignore[union-attr]
    time.sleep(0.3)
    assert mailbox.messages == []  # not due yet: the first retry is 30 s later
    later = datetime.now(UTC) + timedelta(seconds=31)
    outbox_workers.clock = lambda: later
    client.portal.call(outbox_workers.wake)  # type: ignore[union-attr]
    [message] = mailbox.wait_for(1)
    assert message["To"] == "ann@example.com"
    wait_for(lambda: rows(sync_engine) == [])


def test_a_message_is_given_up_on_and_logged_after_mail_retry_hours(
    client: TestClient,
    mailbox: SmtpServer,
    sync_engine: Any,
    outbox_workers: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="contacts_api.outbox")
    mailbox.refuse()
    sign_up(client, "ann@example.com")
    wait_for(lambda: settled(outbox_workers, sync_engine) == [("ann@example.com", CONFIRM, 1)])
    # Past the deadline: the next attempt is the last, and it fails too.
    later = datetime.now(UTC) + timedelta(hours=24, seconds=1)
    outbox_workers.clock = lambda: later
    client.portal.call(outbox_workers.wake)  # type: ignore[union-attr]
    wait_for(lambda: any("gave up" in record.getMessage() for record in caplog.records))
    assert rows(sync_engine) == []
    [gave_up] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert gave_up == (
        'Mail to ann@example.com: "Confirm your email address" failed (attempt 2): recipient '
        "refused: 550 5.1.1 Mailbox unavailable; gave up after 24 h"
    )
    assert caplog.records[0].getMessage() == (
        'Mail to ann@example.com: "Confirm your email address" failed (attempt 1): recipient '
        "refused: 550 5.1.1 Mailbox unavailable; retrying in 30 s"
    )


def test_the_last_retry_falls_on_the_deadline_not_a_whole_delay_after_it(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any, outbox_workers: Any
) -> None:
    mailbox.refuse()
    sign_up(client, "ann@example.com")
    wait_for(lambda: settled(outbox_workers, sync_engine) == [("ann@example.com", CONFIRM, 1)])
    with sync_engine.begin() as connection:
        created_at = connection.execute(select(OUTBOX.c.created_at)).scalar_one()
        connection.execute(text("UPDATE outbox SET attempts = 9"))  # the next delay: an hour
    # 23 h 50 min in: the next delay would be an hour, but the deadline is 10 minutes away.
    later = created_at + timedelta(hours=23, minutes=50)
    outbox_workers.clock = lambda: later
    client.portal.call(outbox_workers.wake)  # type: ignore[union-attr]
    wait_for(lambda: settled(outbox_workers, sync_engine) == [("ann@example.com", CONFIRM, 10)])

    def due_at() -> Any:
        with sync_engine.connect() as connection:
            return connection.execute(select(OUTBOX.c.due_at)).scalar_one()

    # The claim counts the attempt before the failure is recorded: the row may still show the
    # claim's lease for a moment, so wait for the retry's time rather than read it once.
    wait_for(lambda: due_at() == created_at + timedelta(hours=24))


def test_metrics_show_the_waiting_messages_and_the_age_of_the_oldest(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any, outbox_workers: Any
) -> None:
    assert "mail_outbox_messages 0.0" in client.get("/metrics").text
    assert "mail_outbox_oldest_age_seconds 0.0" in client.get("/metrics").text
    mailbox.refuse()
    sign_up(client, "ann@example.com")
    sign_up(client, "bob@example.com")
    wait_for(lambda: [row[2] for row in settled(outbox_workers, sync_engine) or []] == [1, 1])
    with sync_engine.connect() as connection:
        oldest = connection.execute(select(func.min(OUTBOX.c.created_at))).scalar_one()
    later = oldest + timedelta(seconds=90)
    outbox_workers.clock = lambda: later
    metrics = client.get("/metrics").text.splitlines()
    assert "mail_outbox_messages 2.0" in metrics
    assert "mail_outbox_oldest_age_seconds 90.0" in metrics
