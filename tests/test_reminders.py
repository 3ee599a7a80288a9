"""Birthday reminders by email: the settings route, and the run that sends the messages, at
pinned instants, through the real SMTP server of the tests (tests/smtp.py)."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from contacts_api.jobs import JOBS, Job, Scheduler
from contacts_api.reminders import ReminderRuns, RunReport, reminder_runs, run_reminders
from tests.conftest import wait_until_mail_is_sent
from tests.helpers import bearer, create_contact, log_in, race, sign_up
from tests.smtp import SmtpServer
from tests.test_accounts import token_in, verify

Headers = dict[str, str]
REMINDERS = "/api/users/me/reminders"
DEFAULTS = {"enabled": False, "days_before": [0, 7], "hour": 8, "time_zone": "UTC"}
UNVERIFIED = {"detail": "Verify your email address first"}
FOOTER = (
    "You get this message because birthday reminders are on for your contacts_api account. "
    "To change them or turn them off: PUT /api/users/me/reminders.\n"
)


@pytest.fixture(autouse=True, scope="module")
def paused_job() -> Iterator[None]:
    """The app's own reminder job does nothing during these tests: each test runs the
    reminders itself, at the instants it chooses, never at the machine's time."""
    reminder_runs.paused = True
    yield
    reminder_runs.paused = False


def verified_user(client: TestClient, mailbox: SmtpServer, email: str) -> Headers:
    """Sign up `email`, verify it through the link of its message, log in."""
    wait_until_mail_is_sent()
    mailbox.clear()
    sign_up(client, email)
    [message] = mailbox.wait_for(1)
    assert verify(client, token_in(message)).status_code == 204
    mailbox.clear()
    return bearer(log_in(client, email))


def set_reminders(client: TestClient, headers: Headers, **settings: Any) -> dict[str, Any]:
    response = client.put(REMINDERS, headers=headers, json=DEFAULTS | settings)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def run(client: TestClient, instant: str) -> RunReport:
    """One run of the reminders, in the app's event loop, at `instant` (ISO 8601)."""
    now = datetime.fromisoformat(instant)
    report: RunReport = client.portal.call(run_reminders, now)  # type: ignore[union-attr]
    wait_until_mail_is_sent()
    return report


def received(mailbox: SmtpServer, count: int) -> list[EmailMessage]:
    """Exactly `count` messages (after the outbox has delivered all it had)."""
    wait_until_mail_is_sent()
    messages = mailbox.wait_for(count) if count else []
    assert len(mailbox.messages) == count, [m["Subject"] for m in mailbox.messages]
    return messages


def text_of(message: EmailMessage) -> str:
    return str(message.get_content())


# --- The settings -------------------------------------------------------------------------


def test_reminders_are_off_until_set(client: TestClient, ann: Headers) -> None:
    response = client.get(REMINDERS, headers=ann)
    assert (response.status_code, response.json()) == (200, DEFAULTS)
    assert client.get(REMINDERS).status_code == 401
    assert client.put(REMINDERS, json=DEFAULTS).status_code == 401


def test_a_verified_user_sets_reminders_and_reads_them_back(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    wanted = {"enabled": True, "days_before": [14, 0, 3], "hour": 0, "time_zone": "Europe/Kyiv"}
    assert set_reminders(client, ann, **wanted) == wanted
    assert client.get(REMINDERS, headers=ann).json() == wanted
    # A field left out takes its default: PUT replaces the settings whole.
    response = client.put(REMINDERS, headers=ann, json={"enabled": True})
    assert response.json() == DEFAULTS | {"enabled": True}
    assert client.get(REMINDERS, headers=ann).json() == DEFAULTS | {"enabled": True}


def test_an_unverified_user_cannot_turn_reminders_on(client: TestClient, ann: Headers) -> None:
    response = client.put(REMINDERS, headers=ann, json=DEFAULTS | {"enabled": True})
    assert (response.status_code, response.json()) == (403, UNVERIFIED)
    assert client.get(REMINDERS, headers=ann).json() == DEFAULTS
    # Off, everything else may be set.
    assert set_reminders(client, ann, hour=20) == DEFAULTS | {"hour": 20}


TOO_FEW = "List should have at least 1 item after validation, not 0"
TOO_MANY = "List should have at most 5 items after validation, not 6"
UNKNOWN_ZONE = "Value error, unknown time zone; use an IANA name such as Europe/Kyiv"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"days_before": []}, "days_before", TOO_FEW),
        ({"days_before": [0, 1, 2, 3, 4, 5]}, "days_before", TOO_MANY),
        ({"days_before": [7, 7]}, "days_before", "Value error, must not repeat a value"),
        ({"days_before": [31]}, "days_before", "Input should be less than or equal to 30"),
        ({"days_before": [-1]}, "days_before", "Input should be greater than or equal to 0"),
        ({"days_before": [1.5]}, "days_before", "Input should be a valid integer"),
        ({"days_before": 7}, "days_before", "Input should be a valid list"),
        ({"hour": 24}, "hour", "Input should be less than or equal to 23"),
        ({"hour": -1}, "hour", "Input should be greater than or equal to 0"),
        ({"hour": "8"}, "hour", "Input should be a valid integer"),
        ({"hour": None}, "hour", "Input should be a valid integer"),
        ({"enabled": "yes"}, "enabled", "Input should be a valid boolean"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", UNKNOWN_ZONE),
        ({"time_zone": "localtime"}, "time_zone", UNKNOWN_ZONE),
        ({"time_zone": "x" * 65}, "time_zone", "String should have at most 64 characters"),
    ],
)  # fmt: skip
def test_settings_out_of_their_ranges_are_422(
    client: TestClient, ann: Headers, body: dict[str, Any], field: str, message: str
) -> None:
    response = client.put(REMINDERS, headers=ann, json=DEFAULTS | body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert (problem["loc"][:2], problem["msg"]) == (["body", field], message)
    assert client.get(REMINDERS, headers=ann).json() == DEFAULTS


def test_two_first_puts_at_once_both_succeed(client: TestClient, ann: Headers) -> None:
    bodies = [DEFAULTS | {"hour": hour} for hour in (6, 7)]
    assert race(client, [("PUT", REMINDERS, ann, body) for body in bodies]) == [200, 200]
    assert client.get(REMINDERS, headers=ann).json()["hour"] in (6, 7)


def test_deleting_the_account_deletes_its_reminders(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any
) -> None:
    from sqlalchemy import text

    ann = verified_user(client, mailbox, "ann@example.com")
    set_reminders(client, ann, enabled=True)
    body = {"current_password": "correct horse battery"}
    assert client.request("DELETE", "/api/users/me", headers=ann, json=body).status_code == 204
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM reminder_settings")).scalar() == 0


# --- The messages -------------------------------------------------------------------------


def test_a_reminder_due_at_an_hour_already_past_is_sent_at_once_and_only_once(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-17")
    set_reminders(client, ann, enabled=True, days_before=[0])
    assert run(client, "2026-05-17T15:20:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert (message["To"], message["Subject"]) == ("ann@example.com", "Birthday today: Bob Lee")
    assert text_of(message) == (
        "Hello,\n\nthese birthdays of your contacts are coming up:\n\n"
        "Today, Sunday 17 May 2026 (2026-05-17):\n  Bob Lee, turns 36\n\n" + FOOTER
    )
    # Later the same day, and the next runs: nothing more.
    for instant in ("2026-05-17T15:25:00+00:00", "2026-05-17T23:59:59+00:00"):
        assert run(client, instant) == RunReport(checked=0, sent=0)
    received(mailbox, 1)


def test_nothing_goes_out_before_the_hour(client: TestClient, mailbox: SmtpServer) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="--05-17")
    set_reminders(client, ann, enabled=True, days_before=[0], hour=9, time_zone="Europe/Kyiv")
    # 08:59 in Kyiv (UTC+3 in summer): not yet.
    assert run(client, "2026-05-17T05:59:59+00:00") == RunReport(checked=0, sent=0)
    received(mailbox, 0)
    assert run(client, "2026-05-17T06:00:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    # No year of birth: no age.
    assert "Today, Sunday 17 May 2026 (2026-05-17):\n  Bob Lee\n\n" in text_of(message)


def test_one_message_lists_every_birthday_of_every_days_before(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    for first, last, birthday in [
        ("Eve", "Day", "1980-03-01"),  # today
        ("Al", "Zed", "--03-01"),  # today, no year
        ("Cy", "Two", "2001-03-04"),  # in 3 days
        ("Di", "Five", "1999-03-06"),  # in 5 days: not asked for
        ("Bo", "Week", "1970-03-08"),  # in 7 days
        ("Fay", "Past", "1970-02-28"),  # yesterday
    ]:
        create_contact(client, ann, first_name=first, last_name=last, birthday=birthday)
    create_contact(client, ann, first_name=None, last_name=None, company="Acme", birthday="--03-02")
    set_reminders(client, ann, enabled=True, days_before=[7, 0, 3, 1])
    assert run(client, "2026-03-01T08:00:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert message["Subject"] == "5 birthdays coming up"
    assert text_of(message) == (
        "Hello,\n\nthese birthdays of your contacts are coming up:\n\n"
        "Today, Sunday 1 March 2026 (2026-03-01):\n  Al Zed\n  Eve Day, turns 46\n\n"
        "Tomorrow, Monday 2 March 2026 (2026-03-02):\n  Acme\n\n"
        "In 3 days, Wednesday 4 March 2026 (2026-03-04):\n  Cy Two, turns 25\n\n"
        "In 7 days, Sunday 8 March 2026 (2026-03-08):\n  Bo Week, turns 56\n\n" + FOOTER
    )


def test_no_message_on_a_day_without_birthdays_nor_for_the_trash_or_other_books(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    bob = verified_user(client, mailbox, "bob@example.com")
    create_contact(client, ann, first_name="Tom", last_name="Later", birthday="1990-06-02")
    gone = create_contact(client, ann, first_name="Gone", last_name="Away", birthday="--06-01")
    assert client.delete(f"/api/contacts/{gone['id']}", headers=ann).status_code == 204
    create_contact(client, bob, first_name="Bob's", last_name="Friend", birthday="--06-01")
    set_reminders(client, ann, enabled=True, days_before=[0])
    assert run(client, "2026-06-01T12:00:00+00:00") == RunReport(checked=1, sent=0)
    received(mailbox, 0)
    # The next day Tom's birthday is today.
    assert run(client, "2026-06-02T12:00:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert message["Subject"] == "Birthday today: Tom Later"


def test_reminders_turned_on_or_changed_after_the_hour_go_out_that_day(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-24")
    set_reminders(client, ann, enabled=True, days_before=[0])
    # Checked at 8: nothing today.
    assert run(client, "2026-05-17T08:00:00+00:00") == RunReport(checked=1, sent=0)
    # At noon Ann asks for a week ahead too: the next run checks today again, and sends.
    set_reminders(client, ann, enabled=True, days_before=[0, 7])
    assert run(client, "2026-05-17T12:05:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert message["Subject"] == "Birthday in 7 days: Bob Lee"
    # Once a message went out, another change sends nothing more that day...
    set_reminders(client, ann, enabled=True, days_before=[0, 7, 6], hour=13)
    assert run(client, "2026-05-17T13:05:00+00:00") == RunReport(checked=0, sent=0)
    # ...nor does turning them off and on again.
    set_reminders(client, ann, enabled=False)
    set_reminders(client, ann, enabled=True, days_before=[7, 6])
    assert run(client, "2026-05-17T23:05:00+00:00") == RunReport(checked=0, sent=0)
    received(mailbox, 1)
    # The next day it goes on as usual: six days ahead now.
    assert run(client, "2026-05-18T08:00:00+00:00") == RunReport(checked=1, sent=1)
    [_, message] = received(mailbox, 2)
    assert message["Subject"] == "Birthday in 6 days: Bob Lee"


def test_a_run_that_fails_after_its_claim_leaves_the_day_to_the_next_run(
    client: TestClient, mailbox: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contacts_api.reminders

    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-17")
    set_reminders(client, ann, enabled=True, days_before=[0])

    async def outbox_fails(*_args: Any) -> None:
        raise OSError("the database went away")

    monkeypatch.setattr(contacts_api.reminders, "enqueue_many", outbox_fails)
    with pytest.raises(OSError):
        run(client, "2026-05-17T09:00:00+00:00")
    monkeypatch.undo()
    # The claim was rolled back with the failure: the next run sends the day's message.
    assert run(client, "2026-05-17T09:05:00+00:00") == RunReport(checked=1, sent=1)
    received(mailbox, 1)


def test_a_time_zone_that_tzdata_no_longer_knows_holds_up_nobody_else(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any
) -> None:
    from sqlalchemy import text

    ann = verified_user(client, mailbox, "ann@example.com")
    bob = verified_user(client, mailbox, "bob@example.com")
    for headers in (ann, bob):
        create_contact(client, headers, first_name="Cy", last_name="Lee", birthday="--05-17")
        set_reminders(client, headers, enabled=True, days_before=[0])
    with sync_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE reminder_settings SET time_zone = 'Gone/Zone' WHERE user_id ="
                " (SELECT id FROM users WHERE email = 'bob@example.com')"
            )
        )
    assert run(client, "2026-05-17T09:00:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert message["To"] == "ann@example.com"


def test_a_day_missed_whole_is_never_sent_late(client: TestClient, mailbox: SmtpServer) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-17")
    set_reminders(client, ann, enabled=True, days_before=[0])
    # The service was down all of 17 May; on the 18th Bob's birthday is yesterday's news.
    assert run(client, "2026-05-18T09:00:00+00:00") == RunReport(checked=1, sent=0)
    received(mailbox, 0)


def test_reminders_stop_while_the_email_is_unverified_and_resume_once_verified(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-17")
    set_reminders(client, ann, enabled=True, days_before=[0, 1])
    body = {"email": "ann@new.example", "current_password": "correct horse battery"}
    assert client.patch("/api/users/me", headers=ann, json=body).status_code == 200
    [verification, _notice] = received(mailbox, 2)
    mailbox.clear()
    assert run(client, "2026-05-16T10:00:00+00:00") == RunReport(checked=0, sent=0)
    received(mailbox, 0)
    # Settings may still be changed while it waits (they are on already).
    assert set_reminders(client, ann, enabled=True, days_before=[0, 1], hour=9)["hour"] == 9
    assert verify(client, token_in(verification)).status_code == 204
    assert run(client, "2026-05-16T10:05:00+00:00") == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert (message["To"], message["Subject"]) == ("ann@new.example", "Birthday tomorrow: Bob Lee")


def test_each_user_is_reminded_on_their_own_day_in_their_own_time_zone(
    client: TestClient, mailbox: SmtpServer
) -> None:
    # Kiritimati is UTC+14 and Adak UTC-10 in winter: one instant, two dates a day apart.
    kiri = verified_user(client, mailbox, "kiri@example.com")
    adak = verified_user(client, mailbox, "adak@example.com")
    for headers in (kiri, adak):
        create_contact(client, headers, first_name="New", last_name="Year", birthday="2000-01-01")
    set_reminders(
        client, kiri, enabled=True, days_before=[0], hour=23, time_zone="Pacific/Kiritimati"
    )
    set_reminders(client, adak, enabled=True, days_before=[0, 1], hour=23, time_zone="America/Adak")
    # 2026-01-01 23:30 in Kiritimati, 2025-12-31 23:30 in Adak.
    assert run(client, "2026-01-01T09:30:00+00:00") == RunReport(checked=2, sent=2)
    messages = {message["To"]: message for message in received(mailbox, 2)}
    assert "Today, Thursday 1 January 2026 (2026-01-01):\n  New Year, turns 26\n" in text_of(
        messages["kiri@example.com"]
    )
    assert "Tomorrow, Thursday 1 January 2026 (2026-01-01):\n  New Year, turns 26\n" in text_of(
        messages["adak@example.com"]
    )
    # Half an hour later it is 2 January in Kiritimati and 1 January in Adak, both at
    # 00:00: nobody's hour has come.
    assert run(client, "2026-01-01T10:00:00+00:00") == RunReport(checked=0, sent=0)
    # 23:00 again: 1 January in Adak (a message), 2 January in Kiritimati (none).
    assert run(client, "2026-01-02T09:00:00+00:00") == RunReport(checked=2, sent=1)
    [*_, message] = received(mailbox, 3)
    assert (message["To"], message["Subject"]) == ("adak@example.com", "Birthday today: New Year")


FEB_28_2027 = "Sunday 28 February 2027 (2027-02-28)"
FEB_29_2028 = "Tuesday 29 February 2028 (2028-02-29)"
TURNS_27 = "\n  Leap Day, turns 27\n"
TURNS_28 = "\n  Leap Day, turns 28\n"


@pytest.mark.parametrize(
    ("instant", "subject", "line"),
    [
        # A common year: 29 February birthdays on 28 February, with the age of that year.
        (
            "2027-02-28T08:00:00+00:00",
            "Birthday today: Leap Day",
            f"Today, {FEB_28_2027}:{TURNS_27}",
        ),
        (
            "2027-02-27T08:00:00+00:00",
            "Birthday tomorrow: Leap Day",
            f"Tomorrow, {FEB_28_2027}:{TURNS_27}",
        ),
        # A leap year: on the 29th itself.
        (
            "2028-02-29T08:00:00+00:00",
            "Birthday today: Leap Day",
            f"Today, {FEB_29_2028}:{TURNS_28}",
        ),
        (
            "2028-02-28T08:00:00+00:00",
            "Birthday tomorrow: Leap Day",
            f"Tomorrow, {FEB_29_2028}:{TURNS_28}",
        ),
    ],
)  # fmt: skip
def test_29_february_birthdays_are_on_28_february_in_common_years(
    client: TestClient, mailbox: SmtpServer, instant: str, subject: str, line: str
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Leap", last_name="Day", birthday="2000-02-29")
    set_reminders(client, ann, enabled=True, days_before=[0, 1])
    assert run(client, instant) == RunReport(checked=1, sent=1)
    [message] = received(mailbox, 1)
    assert message["Subject"] == subject
    assert line in text_of(message)


def test_no_29_february_reminder_on_28_february_of_a_leap_year(
    client: TestClient, mailbox: SmtpServer
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Leap", last_name="Day", birthday="2000-02-29")
    set_reminders(client, ann, enabled=True, days_before=[0])
    assert run(client, "2027-03-01T08:00:00+00:00") == RunReport(checked=1, sent=0)
    assert run(client, "2028-02-28T08:00:00+00:00") == RunReport(checked=1, sent=0)
    received(mailbox, 0)


def test_two_runs_at_once_send_each_message_once(client: TestClient, mailbox: SmtpServer) -> None:
    users = [verified_user(client, mailbox, f"user{n}@example.com") for n in range(6)]
    for headers in users:
        create_contact(client, headers, first_name="Bob", last_name="Lee", birthday="--05-17")
        set_reminders(client, headers, enabled=True, days_before=[0])
    now = datetime(2026, 5, 17, 9, tzinfo=UTC)

    async def two_runs() -> list[RunReport]:
        small = partial(run_reminders, now, batch=2)  # several batches each
        return list(await asyncio.gather(small(), small(), run_reminders(now, batch=1)))

    reports = client.portal.call(two_runs)  # type: ignore[union-attr]
    assert sum(report.sent for report in reports) == 6
    assert sum(report.checked for report in reports) == 6
    messages = received(mailbox, 6)
    assert sorted(message["To"] for message in messages) == [
        f"user{n}@example.com" for n in range(6)
    ]


# --- As a job -----------------------------------------------------------------------------


def test_the_run_is_a_job_of_the_app_every_five_minutes() -> None:
    from contacts_api.jobs import scheduler

    assert scheduler.jobs["birthday-reminders"].every == timedelta(minutes=5)


@pytest.fixture
def test_job(client: TestClient, sync_engine: Any) -> Iterator[str]:
    """The name of a reminder job of the test's own, with no schedule before or after it."""
    name = "test-birthday-reminders"
    with sync_engine.begin() as connection:
        connection.execute(delete(JOBS).where(JOBS.c.name == name))
    yield name
    with sync_engine.begin() as connection:
        connection.execute(delete(JOBS).where(JOBS.c.name == name))


def test_a_service_down_at_the_hour_sends_when_back_the_same_day_once_for_two_processes(
    client: TestClient, mailbox: SmtpServer, test_job: str
) -> None:
    ann = verified_user(client, mailbox, "ann@example.com")
    create_contact(client, ann, first_name="Bob", last_name="Lee", birthday="1990-05-17")
    set_reminders(client, ann, enabled=True, days_before=[0])
    now = [datetime(2026, 5, 17, 7, 55, tzinfo=UTC)]
    # Two processes: each its scheduler and its reminder job, on one clock pinned here.
    schedulers = []
    for _ in range(2):
        scheduler = Scheduler(clock=lambda: now[0])
        scheduler.add(Job(test_job, timedelta(minutes=5), ReminderRuns(lambda: now[0]).run))
        schedulers.append(scheduler)

    def look() -> list[int]:
        async def together() -> list[int]:
            return list(await asyncio.gather(*(s.run_due() for s in schedulers)))

        ran: list[int] = client.portal.call(together)  # type: ignore[union-attr]
        wait_until_mail_is_sent()
        return ran

    assert sorted(look()) == [0, 1]  # 07:55: one of them runs it, before the hour
    received(mailbox, 0)
    # Down from 07:56 to 10:20: back, it sends at once, from one of the two.
    now[0] = datetime(2026, 5, 17, 10, 20, tzinfo=UTC)
    assert sorted(look()) == [0, 1]
    [message] = received(mailbox, 1)
    assert message["Subject"] == "Birthday today: Bob Lee"
    # And never again that day.
    for instant in ("10:25", "16:00", "23:55"):
        now[0] = datetime.fromisoformat(f"2026-05-17T{instant}:00+00:00")
        assert sorted(look()) == [0, 1]
    received(mailbox, 1)
