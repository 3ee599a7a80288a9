"""Birthday reminders by email: the run that gives each user their message of the day.

A run goes over the time zones that have reminders on, a group of zones at a time: zones that
share the local date and hour now (all those at one UTC offset) share every condition. In each
group it claims a batch of users whose hour has come and whom no run has checked today, with one
conditional UPDATE that moves `checked_on` to today (only verified addresses). For each of them
it reads the contacts whose birthday is `d` days ahead, for each `d` of their `days_before`, and
puts ONE message listing them all in the outbox, in the transaction that made the claim and that
records `sent_on`. So a user gets one message a day however many processes run it and however
often they restart: a claim that commits has its message, one that rolls back has none and is
made again by the next run. The run only ever looks at the user's today: a service that was down
at the hour sends when it is back, the same local day, and never a day late.

A change of the settings moves `checked_on` back to `sent_on` (routes/reminders.py): reminders
turned on or changed after the hour are checked again that day, unless a message went out.
The run is a job of contacts_api/jobs.py, every REMINDERS_EVERY_SECONDS (5 minutes), once per
due time across every process; being idempotent, it could as well run in all of them.
No FastAPI here.
"""

import logging
from calendar import isleap
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, or_, select, true, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.birthday_calendar import display_name
from contacts_api.config import get_settings
from contacts_api.db import SessionFactory, engine
from contacts_api.jobs import Job
from contacts_api.mail import Mail
from contacts_api.models import (
    IN_THE_BOOK,
    Contact,
    ReminderSettings,
    User,
    birthday_key,
    birthday_on,
    birthday_parts,
    utc_now,
)
from contacts_api.outbox import enqueue_many

log = logging.getLogger(__name__)

# Users claimed, read and written in one transaction: short enough that a run holds no locks
# for long, large enough that a run over 10,000 users is a few dozen round trips.
BATCH = 500


# One birthday in a message.
@dataclass(frozen=True, order=True)
class Upcoming:
    days_ahead: int
    name: str
    on: date
    age: int | None  # the age reached on `on`; None without a year of birth


# What a run did.
@dataclass
class RunReport:
    checked: int = 0  # users claimed for their day
    sent: int = 0  # messages put in the outbox


def local_day_and_hour(zone: str, now: datetime) -> tuple[date, int]:
    """The date and the hour of the day in `zone` at the instant `now`."""
    local = now.astimezone(ZoneInfo(zone))
    return local.date(), local.hour


def days_keys(today: date, days_before: Iterable[int]) -> set[int]:
    """The `birthday_key` values of the days `d` days after `today`: a day's month * 100 + day,
    and 229 too on 28 February of a common year, when 29 February birthdays are celebrated."""
    keys = set()
    for days in days_before:
        day = today + timedelta(days=days)
        keys.add(birthday_key(day))
        if (day.month, day.day) == (2, 28) and not isleap(day.year):
            keys.add(229)
    return keys


def upcoming(today: date, days_before: Iterable[int], contacts: Iterable[Any]) -> list[Upcoming]:
    """The birthdays among `contacts` (rows with names and `birthday`) that fall `d` days after
    `today` for a `d` of `days_before`, soonest first, then by name."""
    wanted = {today + timedelta(days=days): days for days in days_before}
    found = []
    for contact in contacts:
        for day, days in wanted.items():
            if birthday_on(contact.birthday, day.year) == day:
                born = birthday_parts(contact.birthday)[2]
                name = display_name(contact.first_name, contact.last_name, contact.company)
                found.append(Upcoming(days, name, day, None if born is None else day.year - born))
    return sorted(found)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _when(days_ahead: int) -> str:
    if days_ahead == 0:
        return "today"
    if days_ahead == 1:
        return "tomorrow"
    return f"in {days_ahead} days"


def _day(day: date) -> str:
    # Written out, not with strftime, whose names follow the process's locale.
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def reminder_mail(to: str, birthdays: Sequence[Upcoming]) -> Mail:
    """The message of one day: every birthday it reminds of, grouped by how far ahead."""
    if len(birthdays) == 1:
        [only] = birthdays
        subject = f"Birthday {_when(only.days_ahead)}: {only.name}"
    else:
        subject = f"{len(birthdays)} birthdays coming up"
    lines = ["Hello,", "", "these birthdays of your contacts are coming up:"]
    by_day: dict[date, list[Upcoming]] = defaultdict(list)
    for birthday in birthdays:
        by_day[birthday.on].append(birthday)
    for day, ones in by_day.items():
        lines += ["", f"{_when(ones[0].days_ahead).capitalize()}, {_day(day)} ({day}):"]
        for one in ones:
            lines.append(f"  {one.name}" + ("" if one.age is None else f", turns {one.age}"))
    lines += [
        "",
        "You get this message because birthday reminders are on for your contacts_api "
        "account. To change them or turn them off: PUT /api/users/me/reminders.",
    ]
    return Mail(to=to, subject=subject, text="\n".join(lines) + "\n")


def _not_done(today: date) -> ColumnElement[bool]:
    """Neither checked nor sent on `today` (nor on a later day: a user who moved west)."""
    checked, sent = col(ReminderSettings.checked_on), col(ReminderSettings.sent_on)
    return and_(
        or_(checked.is_(None), checked < today),
        or_(sent.is_(None), sent < today),
    )


def claim_statement(zones: Sequence[str], today: date, hour: int, batch: int) -> Any:
    """UPDATE ... SET checked_on = today for up to `batch` users of `zones` whose hour has
    come and who were not checked today, RETURNING who they are and their days_before.

    The condition is written twice: in the subquery that picks the batch, and on the row the
    UPDATE writes. On PostgreSQL, a second process's UPDATE of a row that the first has
    claimed waits for the first to commit and then reads the condition again: false, so that
    row is nobody else's (and SKIP LOCKED lets the second one pick other rows meanwhile).
    SQLite has one writer at a time: the second run begins after the first has committed.
    """
    due = (
        select(col(ReminderSettings.user_id))
        .join(User, col(User.id) == col(ReminderSettings.user_id))
        .where(
            col(ReminderSettings.enabled) == true(),
            col(User.email_verified) == true(),
            col(ReminderSettings.time_zone).in_(zones),
            col(ReminderSettings.hour) <= hour,
            _not_done(today),
        )
        .limit(batch)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(of=ReminderSettings.__table__, skip_locked=True)  # type: ignore[attr-defined]
    return (
        update(ReminderSettings)
        .where(col(ReminderSettings.user_id).in_(due.scalar_subquery()), _not_done(today))
        .values(checked_on=today)
        .returning(col(ReminderSettings.user_id), col(ReminderSettings.days_before))
    )


async def enabled_zones(session: AsyncSession) -> list[str]:
    statement = (
        select(col(ReminderSettings.time_zone))
        .where(col(ReminderSettings.enabled) == true())
        .distinct()
    )
    return list((await (await session.connection()).execute(statement)).scalars())


def zone_groups(zones: Iterable[str], now: datetime) -> dict[tuple[date, int], list[str]]:
    """The zones by their local date and hour at `now`."""
    groups: dict[tuple[date, int], list[str]] = defaultdict(list)
    for zone in zones:
        try:
            groups[local_day_and_hour(zone, now)].append(zone)
        except (ZoneInfoNotFoundError, ValueError):
            # A name that a newer tzdata dropped: its users wait, the others are not held up.
            log.error("Birthday reminders: unknown time zone %r skipped", zone)
    return groups


async def remind_batch(
    session: AsyncSession, zones: Sequence[str], today: date, hour: int, batch: int
) -> tuple[int, list[Mail]]:
    """Claim one batch of users and write their messages, in the session's transaction; how
    many users it claimed, and the messages."""
    connection = await session.connection()
    claimed = (await connection.execute(claim_statement(zones, today, hour, batch))).all()
    if not claimed:
        return 0, []
    days_of = {user_id: days for user_id, days in claimed}
    keys = days_keys(today, {days for every in days_of.values() for days in every})
    contacts = (
        await connection.execute(
            select(
                col(Contact.owner_id),
                col(Contact.first_name),
                col(Contact.last_name),
                col(Contact.company),
                col(Contact.birthday),
            ).where(
                IN_THE_BOOK,
                col(Contact.owner_id).in_(days_of),
                col(Contact.birthday_key).in_(keys),
            )
        )
    ).all()
    books: dict[int, list[Any]] = defaultdict(list)
    for contact in contacts:
        books[contact.owner_id].append(contact)
    found = {
        user_id: birthdays
        for user_id, book in books.items()
        if (birthdays := upcoming(today, days_of[user_id], book))
    }
    mails: list[Mail] = []
    if found:
        emails = (
            await connection.execute(
                select(col(User.id), col(User.email)).where(col(User.id).in_(found))
            )
        ).all()
        mails = [reminder_mail(row.email, found[row.id]) for row in emails]
        await connection.execute(
            update(ReminderSettings)
            .where(col(ReminderSettings.user_id).in_(found))
            .values(sent_on=today)
        )
    return len(claimed), mails


async def run_reminders(now: datetime | None = None, *, batch: int = BATCH) -> RunReport:
    """Send every reminder due at `now` (the clock by default) that has not gone out yet."""
    now = now or datetime.now(UTC)
    report = RunReport()
    async with SessionFactory() as session:
        zones = await enabled_zones(session)
        await session.commit()
        for (today, hour), group in sorted(zone_groups(zones, now).items()):
            while True:
                claimed, mails = await remind_batch(session, group, today, hour, batch)
                await enqueue_many(session, mails)  # committed with the claim, or not at all
                await session.commit()
                report.checked += claimed
                report.sent += len(mails)
                if claimed < batch:
                    break
    if report.checked:
        log.info("Birthday reminders: %d users checked, %d messages", report.checked, report.sent)
    return report


class ReminderRuns:
    """The run as a job of the scheduler, with its clock (tests pin it, or pause the job)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        self.paused = False

    async def run(self, _due_at: datetime) -> None:
        # "Now", not the due time: a run late after a restart must see the hours that came
        # meanwhile. A failure raises: the scheduler tries again a minute later.
        if not self.paused:
            await run_reminders(self.clock())


reminder_runs = ReminderRuns()
REMINDER_JOB = Job(
    "birthday-reminders",
    timedelta(seconds=get_settings().REMINDERS_EVERY_SECONDS),
    reminder_runs.run,
)
