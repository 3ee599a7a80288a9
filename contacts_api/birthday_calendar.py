"""The birthday calendar as iCalendar (RFC 5545), and its secret: pure functions, no web
framework and no database.

One all-day event a contact, repeated every year, which calendar programs (Google Calendar,
Apple Calendar, Thunderbird, Outlook) expand themselves. Expanded over any window, its events
are the birthdays that `GET /api/contacts/birthdays` lists for that window
(tests/test_birthday_calendar.py checks it with an independent expander).
"""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from typing import NamedTuple

from icalendar import Calendar, Event, vDuration

from contacts_api.models import birthday_on, birthday_parts

CALENDAR_NAME = "Birthdays"
PRODUCT_ID = "-//contacts_api//Birthday calendar//EN"
# How often a subscribed program should fetch the calendar again (RFC 7986's property, and
# the older one that Apple Calendar and Outlook read). Birthdays change seldom.
REFRESH = timedelta(hours=12)
# The first year of a birthday without one: Apple's own "year unknown" (vCard's
# `X-APPLE-OMIT-YEAR=1604`), a leap year, so `--02-29` starts on a 29 February like
# everybody else's birthday on their day. Any window after it holds every year's birthday.
NO_YEAR_START = 1604
# The last day of February in every year: 29 February in leap years, 28 in the others, which
# is when the birthdays route lists someone born on 29 February.
LAST_DAY_OF_FEBRUARY = {"freq": "yearly", "bymonth": 2, "bymonthday": -1}
EVERY_YEAR = {"freq": "yearly"}
# icalendar takes about 0.3 ms of CPU to write one event (a property costs more to encode
# than the rest of the request): a calendar of 10,000 birthdays would cost 3 s each time it is
# fetched. Each event's text is kept, keyed by everything it is written from, so a calendar
# fetched again costs a lookup per unchanged birthday (docs/performance.md). About 1 kB each.
EVENTS_KEPT = 10_000


# What the calendar needs of a contact, as its query reads it.
class BirthdayRow(NamedTuple):
    id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    birthday: str
    updated_at: datetime


def display_name(first_name: str | None, last_name: str | None, company: str | None) -> str:
    """The name a contact goes by in a list: first and last name, else the company."""
    return " ".join(part for part in (first_name, last_name) if part) or company or ""


def first_birthday(birthday: str) -> date:
    """The DTSTART of a birthday's event: the birth date, or its day in NO_YEAR_START."""
    year = birthday_parts(birthday)[2]
    return birthday_on(birthday, NO_YEAR_START if year is None else year)


def birthday_event(contact: BirthdayRow, domain: str) -> Event:
    """The yearly, all-day event of one contact's birthday."""
    month, day, year = birthday_parts(contact.birthday)
    start = first_birthday(contact.birthday)
    event = Event()
    # Stable for as long as the contact exists (an edit, the trash and back keep its id), so a
    # subscribed program updates the event in place instead of adding a second one.
    event.add("uid", f"birthday-{contact.id}@{domain}")
    # Without METHOD, DTSTAMP is when the event last changed (RFC 5545 §3.8.7.2): that keeps
    # the calendar's text, and so its ETag, the same until a birthday or name changes.
    event.add("dtstamp", contact.updated_at.astimezone(UTC))
    event.add("last-modified", contact.updated_at.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(days=1))
    event.add("rrule", LAST_DAY_OF_FEBRUARY if (month, day) == (2, 29) else EVERY_YEAR)
    event.add("summary", display_name(contact.first_name, contact.last_name, contact.company))
    if year is not None:
        event.add("description", f"Born in {year}")
    # A birthday does not make anybody busy.
    event.add("transp", "TRANSPARENT")
    return event


@lru_cache(maxsize=EVENTS_KEPT)
def event_text(contact: BirthdayRow, domain: str) -> bytes:
    """The lines of one contact's event, BEGIN:VEVENT to END:VEVENT, as icalendar writes them."""
    text: bytes = birthday_event(contact, domain).to_ical()
    return text


def empty_calendar() -> Calendar:
    """The calendar's own properties, without events."""
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("calscale", "GREGORIAN")
    # The name a subscribing program shows: RFC 7986's, and the one Google and Apple read.
    calendar.add("name", CALENDAR_NAME)
    calendar.add("x-wr-calname", CALENDAR_NAME)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    return calendar


@cache
def calendar_frame() -> tuple[bytes, bytes]:
    """The calendar's text before its first event and after its last."""
    end = b"END:VCALENDAR\r\n"
    text = empty_calendar().to_ical()
    return text.removesuffix(end), end


def birthday_calendar(contacts: Iterable[BirthdayRow], domain: str) -> bytes:
    """The whole calendar (UTF-8, CRLF lines) of `contacts`, their events in the order given.

    Exactly what icalendar's `Calendar.to_ical()` writes for the calendar with these events
    (a test compares them), put together from the kept texts of the events.
    """
    head, end = calendar_frame()
    return b"".join((head, *(event_text(contact, domain) for contact in contacts), end))


def calendar_etag(body: bytes) -> str:
    """A strong ETag of the calendar's exact bytes."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


# --- The secret of the calendar's address ----------------------------------------------------


def new_calendar_secret() -> str:
    """256 random bits, URL-safe: 43 characters."""
    return secrets.token_urlsafe(32)


def calendar_secret_hash(secret: str) -> str:
    """What the database keeps of a secret, and looks it up by."""
    return hashlib.sha256(secret.encode()).hexdigest()
