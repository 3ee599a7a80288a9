"""The birthday calendar expanded the way calendar programs expand it: over a window, its
events are the birthdays that GET /api/contacts/birthdays lists for the same window.

The served text is read with icalendar and its yearly rules are expanded with dateutil's
rrule (what recurring-ical-events uses underneath: that package cannot be installed beside
this project's python-dateutil 4, see docs/dependencies.md). "Today" is pinned.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from dateutil.rrule import rrule, rrulestr
from fastapi.testclient import TestClient
from icalendar import Calendar, Component, Event

from contacts_api.birthday_calendar import (
    BirthdayRow,
    birthday_calendar,
    birthday_event,
    empty_calendar,
)
from tests.helpers import create_contact

Headers = dict[str, str]
PinNow = Callable[[datetime], None]
Occurrences = set[tuple[str, date]]

# A book with every kind of birthday: around the new year, on the last days of February (in
# leap years and not), with and without a year, named by first and last name, by one of them,
# or by a company only. And a contact without a birthday.
PEOPLE: list[dict[str, Any]] = [
    {"first_name": "Ann", "last_name": "Smith", "birthday": "1990-01-02"},
    {"first_name": "Bob", "last_name": None, "birthday": "--12-31"},
    {"first_name": None, "last_name": None, "company": "Acme Ltd", "birthday": "--01-01"},
    {"first_name": "Lea", "last_name": "Leap", "birthday": "1992-02-29"},
    {"first_name": None, "last_name": "Noyear", "birthday": "--02-29"},
    {"first_name": "Fay", "last_name": "Feb", "birthday": "1985-02-28"},
    {"first_name": "Mar", "last_name": "March", "birthday": "--03-01"},
    {"first_name": "Jun", "last_name": "June", "birthday": "2001-06-10"},
    {"first_name": "Nat", "last_name": "Nobirthday", "birthday": None},
]


def at_noon(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


def add_book(client: TestClient, headers: Headers) -> None:
    for person in PEOPLE:
        create_contact(client, headers, email=None, phone=None, **person)


def calendar_of(client: TestClient, headers: Headers) -> bytes:
    url = client.post("/api/users/me/birthday-calendar", headers=headers).json()["url"]
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.content


def yearly_rule(event: Component) -> rrule:
    """The event's RRULE, starting at its DTSTART."""
    first = datetime.combine(event.decoded("DTSTART"), time())
    text = event["RRULE"].to_ical()
    rule = rrulestr(text.decode() if isinstance(text, bytes) else text, dtstart=first)
    assert isinstance(rule, rrule)
    return rule


def occurrences(ics: bytes, start: date, end: date) -> Occurrences:
    """Every (summary, date) of the calendar's events in [start, end], both ends included."""
    found: Occurrences = set()
    for event in Calendar.from_ical(ics).walk("VEVENT"):
        rule = yearly_rule(event)
        window = (datetime.combine(start, time()), datetime.combine(end, time()))
        found |= {(str(event["SUMMARY"]), when.date()) for when in rule.between(*window, inc=True)}
    return found


def listed(client: TestClient, headers: Headers, days: int) -> Occurrences:
    """What the birthdays route answers, as (the name the list shows, next birthday)."""
    response = client.get("/api/contacts/birthdays", headers=headers, params={"days": days})
    assert response.status_code == 200, response.text
    return {
        (
            " ".join(filter(None, (person["first_name"], person["last_name"])))
            or person["company"],
            date.fromisoformat(person["next_birthday"]),
        )
        for person in response.json()
    }


def over_window(
    client: TestClient, headers: Headers, pin_now: PinNow, today: str, days: int
) -> tuple[Occurrences, Occurrences]:
    """With "today" pinned to `today` and the book of PEOPLE: what the birthdays route lists
    for `days`, and what the calendar expands to over the same window."""
    pin_now(at_noon(today))
    add_book(client, headers)
    start = date.fromisoformat(today)
    expanded = occurrences(calendar_of(client, headers), start, start + timedelta(days=days))
    return listed(client, headers, days), expanded


def test_every_event_starts_on_an_occurrence_of_its_own_rule() -> None:
    # RFC 5545 counts DTSTART as the first instance whether or not the rule yields it;
    # programs differ on such events, so every DTSTART here is one the rule yields too.
    updated = datetime(2026, 1, 1, tzinfo=UTC)
    for person_id, person in enumerate(PEOPLE[:-1]):
        row = BirthdayRow(person_id, "A", None, None, person["birthday"], updated)
        event = birthday_event(row, "contacts.test")
        assert yearly_rule(event)[0] == datetime.combine(event.decoded("DTSTART"), time())


def test_the_calendar_is_what_icalendars_own_calendar_writes() -> None:
    # The route puts the calendar together from kept event texts: the same bytes.
    updated = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    rows = [
        BirthdayRow(1, "Ann", "Smith", None, "1990-01-02", updated),
        BirthdayRow(2, None, None, "Acme, Ltd; \\ x", "--02-29", updated),
        BirthdayRow(3, "Ö" * 50, "Ü" * 50, None, "1950-12-31", updated),  # folded lines
    ]
    calendar = empty_calendar()
    for row in rows:
        calendar.add_component(birthday_event(row, "contacts.test"))
    assert birthday_calendar(rows, "contacts.test") == calendar.to_ical()
    assert birthday_calendar(rows, "contacts.test") == calendar.to_ical()  # kept ones too
    [*_, last] = Calendar.from_ical(calendar.to_ical()).walk("VEVENT")
    assert isinstance(last, Event)
    assert str(last["SUMMARY"]) == f"{'Ö' * 50} {'Ü' * 50}"


def test_over_a_window_across_the_new_year_the_calendar_has_the_listed_birthdays(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    expected = {
        ("Bob", date(2026, 12, 31)),
        ("Acme Ltd", date(2027, 1, 1)),
        ("Ann Smith", date(2027, 1, 2)),
    }
    assert over_window(client, ann, pin_now, "2026-12-20", 30) == (expected, expected)


def test_in_common_years_29_february_birthdays_are_on_28_february(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    expected = {
        ("Lea Leap", date(2027, 2, 28)),
        ("Noyear", date(2027, 2, 28)),
        ("Fay Feb", date(2027, 2, 28)),
        ("Mar March", date(2027, 3, 1)),
    }
    assert over_window(client, ann, pin_now, "2027-02-20", 14) == (expected, expected)


def test_in_leap_years_29_february_birthdays_are_on_29_february(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    expected = {
        ("Fay Feb", date(2028, 2, 28)),
        ("Lea Leap", date(2028, 2, 29)),
        ("Noyear", date(2028, 2, 29)),
        ("Mar March", date(2028, 3, 1)),
    }
    assert over_window(client, ann, pin_now, "2028-02-20", 14) == (expected, expected)


@pytest.mark.parametrize(
    ("today", "days"),
    [
        ("2026-12-20", 30),  # across the new year
        ("2026-12-31", 1),
        ("2027-02-20", 14),  # 28 February of a common year
        ("2028-02-20", 14),  # a leap year
        ("2027-02-28", 0),  # one day: 28 February of a common year
        ("2028-02-28", 0),  # ... of a leap year
        ("2028-02-29", 0),
        ("2100-02-28", 0),  # 2100 is no leap year
        ("2026-06-10", 7),  # the route's default window, from a birthday
        ("2026-06-11", 364),  # as long as a window can be without a day twice
        ("2027-03-02", 365),  # 2028-02-29 comes within: 366 days, no day twice
    ],
)
def test_expanded_over_a_window_the_calendar_is_the_birthdays_route(
    client: TestClient, ann: Headers, pin_now: PinNow, today: str, days: int
) -> None:
    route, calendar = over_window(client, ann, pin_now, today, days)
    assert calendar == route


@pytest.mark.parametrize(
    ("today", "twice"),
    [
        ("2026-12-31", {("Bob", date(2027, 12, 31)), ("Acme Ltd", date(2028, 1, 1))}),
        ("2027-03-01", {("Mar March", date(2028, 3, 1))}),
        ("2028-03-01", {("Mar March", date(2029, 3, 1))}),
        ("2026-06-10", {("Jun June", date(2027, 6, 10))}),
    ],
)
def test_over_366_days_the_first_occurrences_are_the_birthdays_route(
    client: TestClient, ann: Headers, pin_now: PinNow, today: str, twice: Occurrences
) -> None:
    # A window of 366 days after today holds a birthday on its first day on its last day
    # too: the route lists the next one, the calendar both. The first of each is the route's.
    route, calendar = over_window(client, ann, pin_now, today, 366)
    assert calendar == route | twice
