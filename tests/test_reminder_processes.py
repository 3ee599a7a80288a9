"""Birthday reminders from real servers: two uvicorn processes on one database of their own,
killed with SIGKILL and replaced by a third, on the machine's clock. The time zone is chosen so
that it is about noon there: an hour of 0 has passed, and the day does not end during the test.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from contacts_api.models.types import KNOWN_TIME_ZONES
from tests.helpers import bearer, create_contact, log_in, sign_up
from tests.served import fresh_database, kill, served_app
from tests.smtp import SmtpServer
from tests.test_accounts import token_in, verify

# Each server's scheduler looks every 5 s (contacts_api/jobs.py); the job is due every second.
POLL = 5


def midday_zone() -> tuple[str, datetime]:
    """A zone where it is 12:xx now (Etc/GMT-N is N hours east of UTC), and its time."""
    now = datetime.now(UTC)
    east = 12 - now.hour  # -11 to 12
    zone = f"Etc/GMT{-east:+d}"
    assert zone in KNOWN_TIME_ZONES, zone
    return zone, now + timedelta(hours=east)


def test_a_reminder_past_its_hour_goes_out_at_once_and_once_across_servers_and_restarts(
    client: TestClient, mailbox: SmtpServer
) -> None:
    zone, local_now = midday_zone()
    output: list[str] = []
    processes: list[Any] = []
    with fresh_database() as url:
        env = {"DATABASE_URL": url, "REMINDERS_EVERY_SECONDS": "1"}
        with (
            served_app(env, output=output, processes=processes) as first,
            served_app(env, output=output, processes=processes) as second,
        ):
            sign_up(first, "ann@example.com")
            [verification] = mailbox.wait_for(1, timeout=20)
            assert verify(second, token_in(verification)).status_code == 204
            ann = bearer(log_in(first, "ann@example.com"))
            birthday = f"1992-{local_now:%m-%d}"  # a leap year: any day is a birthday
            create_contact(first, ann, first_name="Bob", last_name="Lee", birthday=birthday)
            settings = {"enabled": True, "days_before": [0], "hour": 0, "time_zone": zone}
            assert second.put("/api/users/me/reminders", headers=ann, json=settings).is_success
            # Turned on after the hour: out at the next look of either server.
            _, reminder = mailbox.wait_for(2, timeout=3 * POLL)
            assert (reminder["To"], reminder["Subject"]) == (
                "ann@example.com",
                "Birthday today: Bob Lee",
            )
            time.sleep(2 * POLL)  # both servers look twice more
            for process in processes:
                kill(process)
        # A third server on the same database, after the crash: it runs the job at once.
        with served_app(env, output=output):
            time.sleep(2 * POLL)
    assert len(mailbox.messages) == 2, [message["Subject"] for message in mailbox.messages]
    runs = [line for line in output if "Job birthday-reminders: running" in line]
    assert len(runs) >= 4, output  # the job ran in each server, and found nothing more
