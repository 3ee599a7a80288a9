"""Upcoming birthdays: the window, month ends, the new year, 29 February and time zones.

"Today" is pinned through the app's `get_now` dependency, never by patching the clock.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.helpers import contact_data, create_contact

Headers = dict[str, str]
PinNow = Callable[[datetime], None]


def at_noon(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


def add_people(client: TestClient, headers: Headers, *people: tuple[str, str]) -> None:
    """Add contacts given as (first name, birthday); emails follow from the names."""
    for first_name, birthday in people:
        create_contact(
            client,
            headers,
            first_name=first_name,
            email=f"{first_name.lower()}@example.com",
            birthday=birthday,
        )


def upcoming(client: TestClient, headers: Headers, **params: Any) -> list[tuple[str, str, int]]:
    response = client.get("/api/contacts/birthdays", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [
        (contact["first_name"], contact["next_birthday"], contact["days_until"])
        for contact in response.json()
    ]


def test_the_default_window_is_today_and_the_seven_days_after_it(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    add_people(
        client,
        ann,
        ("Yesterday", "1980-06-09"),
        ("Today", "1980-06-10"),
        ("Seventh", "1990-06-17"),
        ("Eighth", "1990-06-18"),
    )
    assert upcoming(client, ann) == [("Today", "2026-06-10", 0), ("Seventh", "2026-06-17", 7)]


def test_a_birthday_answer_is_a_contact_with_its_next_birthday(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    contact = create_contact(client, ann, birthday="1980-06-12")
    response = client.get("/api/contacts/birthdays", headers=ann)
    assert response.json() == [
        contact | {"next_birthday": "2026-06-12", "days_until": 2, "age": 46}
    ]


def test_a_birthday_without_a_year_is_listed_without_an_age(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-12-30"))
    mom = create_contact(client, ann, first_name="Mom", last_name=None, birthday="--01-02")
    dad = create_contact(client, ann, first_name="Dad", last_name=None, birthday="1950-12-31")
    response = client.get("/api/contacts/birthdays", headers=ann)
    assert response.json() == [
        dad | {"next_birthday": "2026-12-31", "days_until": 1, "age": 76},
        mom | {"next_birthday": "2027-01-02", "days_until": 3, "age": None},
    ]


def test_29_february_without_a_year_is_on_28_february_in_a_common_year(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2027-02-27"))
    add_people(client, ann, ("Leap", "--02-29"), ("Born", "2000-02-29"))
    assert upcoming(client, ann, days=1) == [
        ("Born", "2027-02-28", 1),
        ("Leap", "2027-02-28", 1),
    ]
    pin_now(at_noon("2028-02-27"))
    assert upcoming(client, ann, days=2) == [
        ("Born", "2028-02-29", 2),
        ("Leap", "2028-02-29", 2),
    ]


def test_days_zero_is_today_only(client: TestClient, ann: Headers, pin_now: PinNow) -> None:
    pin_now(at_noon("2026-06-10"))
    add_people(client, ann, ("Today", "2001-06-10"), ("Tomorrow", "2001-06-11"))
    assert upcoming(client, ann, days=0) == [("Today", "2026-06-10", 0)]


def test_a_window_across_a_month_end(client: TestClient, ann: Headers, pin_now: PinNow) -> None:
    pin_now(at_noon("2026-01-28"))
    add_people(
        client,
        ann,
        ("Feb4", "1970-02-04"),
        ("Jan31", "1970-01-31"),
        ("Feb5", "1970-02-05"),
        ("Feb1", "1970-02-01"),
    )
    assert upcoming(client, ann) == [
        ("Jan31", "2026-01-31", 3),
        ("Feb1", "2026-02-01", 4),
        ("Feb4", "2026-02-04", 7),
    ]


def test_a_window_across_the_new_year_sorts_december_first(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-12-28"))
    add_people(
        client,
        ann,
        ("Jan2", "1999-01-02"),
        ("Dec30", "1999-12-30"),
        ("Jan4", "1999-01-04"),
        ("Jan5", "1999-01-05"),
        ("Dec27", "1999-12-27"),
    )
    assert upcoming(client, ann) == [
        ("Dec30", "2026-12-30", 2),
        ("Jan2", "2027-01-02", 5),
        ("Jan4", "2027-01-04", 7),
    ]


def test_29_february_is_on_28_february_in_a_common_year(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2027-02-25"))
    add_people(client, ann, ("Leapling", "2000-02-29"), ("March", "2000-03-01"))
    assert upcoming(client, ann, days=3) == [("Leapling", "2027-02-28", 3)]
    assert upcoming(client, ann, days=4) == [
        ("Leapling", "2027-02-28", 3),
        ("March", "2027-03-01", 4),
    ]


def test_29_february_sorts_among_28_february_birthdays_by_name(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2027-02-28"))
    create_contact(client, ann, first_name="Z", last_name="Zed", birthday="2000-02-28")
    create_contact(
        client, ann, first_name="L", last_name="Leap", email="l@example.com", birthday="2000-02-29"
    )
    create_contact(
        client, ann, first_name="A", last_name="Able", email="a@example.com", birthday="1990-02-28"
    )
    assert upcoming(client, ann, days=0) == [
        ("A", "2027-02-28", 0),
        ("L", "2027-02-28", 0),
        ("Z", "2027-02-28", 0),
    ]


def test_29_february_is_itself_in_a_leap_year(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2028-02-25"))
    add_people(client, ann, ("Leapling", "2000-02-29"))
    assert upcoming(client, ann, days=3) == []
    assert upcoming(client, ann, days=4) == [("Leapling", "2028-02-29", 4)]


def test_29_february_after_it_has_passed_waits_for_next_year(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    add_people(client, ann, ("Leapling", "2000-02-29"))
    pin_now(at_noon("2027-03-01"))  # next year, 2028, is a leap year
    assert upcoming(client, ann, days=366) == [("Leapling", "2028-02-29", 365)]
    pin_now(at_noon("2026-03-01"))  # next year, 2027, is not
    assert upcoming(client, ann, days=366) == [("Leapling", "2027-02-28", 364)]


def test_same_day_birthdays_are_ordered_by_last_name_first_name_and_id(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    for first, last, email in [
        ("Bea", "Brown", "b1@example.com"),
        ("Al", "Brown", "a1@example.com"),
        ("Al", "Brown", "a2@example.com"),
        ("Zoe", "Adams", "z@example.com"),
    ]:
        create_contact(client, ann, first_name=first, last_name=last, email=email,
                       birthday="1990-06-10")  # fmt: skip
    response = client.get("/api/contacts/birthdays", headers=ann)
    assert [(c["last_name"], c["first_name"], c["email"]) for c in response.json()] == [
        ("Adams", "Zoe", "z@example.com"),
        ("Brown", "Al", "a1@example.com"),
        ("Brown", "Al", "a2@example.com"),
        ("Brown", "Bea", "b1@example.com"),
    ]


def test_today_is_the_date_in_the_requested_time_zone(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    # 23:30 on 31 December in UTC is already 1 January in Tokyo, still 31 December in LA.
    pin_now(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    add_people(client, ann, ("NewYear", "1995-01-01"), ("Eve", "1995-12-31"))
    assert upcoming(client, ann, days=0) == [("Eve", "2026-12-31", 0)]
    assert upcoming(client, ann, days=0, tz="Asia/Tokyo") == [("NewYear", "2027-01-01", 0)]
    assert upcoming(client, ann, days=0, tz="America/Los_Angeles") == [("Eve", "2026-12-31", 0)]
    assert upcoming(client, ann, days=1, tz="Asia/Tokyo") == [("NewYear", "2027-01-01", 0)]


@pytest.mark.parametrize(
    "params",
    [
        {"days": -1},
        {"days": 367},
        {"days": "week"},
        {"tz": "Mars/Olympus_Mons"},
        {"tz": ""},
        {"tz": "utc"},
        {"tz": "America"},
        {"tz": "../../etc/passwd"},
        {"tz": "/etc/localtime"},
        {"tz": "localtime"},  # zoneinfo opens these files, but they are no IANA zone names
        {"tz": "right/UTC"},
        {"tz": "Europe/Kyiv\x00"},
        {"tz": "x" * 65},
    ],
)
def test_a_bad_window_or_time_zone_is_422(
    client: TestClient, ann: Headers, params: dict[str, Any]
) -> None:
    response = client.get("/api/contacts/birthdays", headers=ann, params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


def reference_next_birthday(born: date, today: date) -> date:
    """The contract's rule, written the slow and obvious way."""
    for year in (today.year, today.year + 1):
        try:
            candidate = born.replace(year=year)
        except ValueError:  # 29 February in a common year
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")


def test_every_day_of_the_year_against_a_reference(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    # One contact for each day of a leap year, then many windows compared with the rule.
    births = [date(2000, 1, 1) + timedelta(days=n) for n in range(366)]
    for born in births:
        create_contact(
            client,
            ann,
            first_name=f"P{born:%m%d}",
            email=f"p{born:%m%d}@example.com",
            birthday=born.isoformat(),
        )
    todays = ["2026-01-01", "2027-02-27", "2027-02-28", "2028-02-28", "2028-02-29",
              "2027-03-01", "2028-03-01", "2026-12-31", "2027-12-25", "2026-07-15"]  # fmt: skip
    for today_text in todays:
        today = date.fromisoformat(today_text)
        pin_now(at_noon(today_text))
        for days in (0, 1, 2, 7, 31, 60, 364, 365, 366):
            expected = sorted(
                (nb, f"P{born:%m%d}", (nb - today).days)
                for born in births
                if (nb := reference_next_birthday(born, today)) <= today + timedelta(days=days)
            )
            got = upcoming(client, ann, days=days)
            assert got == [(name, nb.isoformat(), until) for nb, name, until in expected], (
                today_text,
                days,
            )


# --- The key is the database's: whoever writes a birthday, the list finds it ---------------


def test_a_contact_inserted_by_plain_sql_is_listed(
    client: TestClient, ann: Headers, pin_now: PinNow, sync_engine: Any
) -> None:
    # As a bulk load with COPY, a restore or a data migration writes rows: no ORM, no key.
    pin_now(at_noon("2026-06-10"))
    owner_id = client.get("/api/users/me", headers=ann).json()["id"]
    with sync_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contacts (owner_id, first_name, birthday, created_at, updated_at)"
                " VALUES (:owner, 'Plain', :birthday, :now, :now), (:owner, 'Yearless',"
                " '--06-13', :now, :now)"
            ),
            {"owner": owner_id, "birthday": "1985-06-12", "now": datetime.now(UTC)},
        )
    assert upcoming(client, ann) == [("Plain", "2026-06-12", 2), ("Yearless", "2026-06-13", 3)]


def test_a_birthday_changed_by_put_is_found_on_its_new_date(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    contact = create_contact(client, ann, first_name="Moved", birthday="1980-01-05")
    assert upcoming(client, ann) == []
    response = client.put(
        f"/api/contacts/{contact['id']}",
        headers=ann,
        json=contact_data(first_name="Moved", birthday="1980-06-15"),
    )
    assert response.status_code == 200
    assert upcoming(client, ann) == [("Moved", "2026-06-15", 5)]


def test_a_birthday_changed_by_patch_is_found_on_its_new_date(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    contact = create_contact(client, ann, first_name="Moved", birthday="1980-06-11")
    assert upcoming(client, ann) == [("Moved", "2026-06-11", 1)]
    response = client.patch(
        f"/api/contacts/{contact['id']}", headers=ann, json={"birthday": "1980-01-05"}
    )
    assert response.status_code == 200
    assert upcoming(client, ann) == []
    client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={"birthday": "2000-06-16"})
    assert upcoming(client, ann) == [("Moved", "2026-06-16", 6)]


def test_a_birthday_brought_by_an_import_is_listed(
    client: TestClient, ann: Headers, pin_now: PinNow
) -> None:
    pin_now(at_noon("2026-06-10"))
    csv = (
        "first_name,last_name,email,phone,birthday\r\n"
        "Imported,Soon,soon@example.com,+1 555 010 0199,1975-06-13\r\n"
        "Imported,Later,later@example.com,+1 555 010 0198,1975-09-13\r\n"
    )
    response = client.post(
        "/api/contacts/import", headers=ann, files={"file": ("book.csv", csv, "text/csv")}
    )
    report = response.json()
    assert (report["created"], report["errors"]) == (2, [])
    assert upcoming(client, ann) == [("Imported", "2026-06-13", 3)]


def test_each_birthday_is_the_contact_exactly_as_get_one_gives_it(
    client: TestClient, ann: Headers, pin_now: PinNow, sync_engine: Any
) -> None:
    """On PostgreSQL the database writes this answer's JSON itself: every value must come out
    as the rest of the API writes it (labels in the API's order, timestamps, escapes)."""
    pin_now(at_noon("2026-06-10"))
    tricky = client.post(
        "/api/contacts",
        headers=ann,
        json={
            "first_name": 'Zoë "Z" \\ 李',
            "company": "Acme\u2028Ltd",
            "emails": [{"address": "o'brien+x@example.com", "label": "work \U0001f600"}],
            "addresses": [{"street": "1 Main St\nFlat 2", "country": "Україна"}],
            "notes": 'line one\nline "two"\ttabbed \\ end',
            "labels": ["école", "Book club", "zed", "Family", "ÉCOLE2"],
            "birthday": "--06-11",
            "favorite": True,
        },
    ).json()
    owner_id = client.get("/api/users/me", headers=ann).json()["id"]
    with sync_engine.begin() as connection:
        # A timestamp without microseconds, which the API writes without a fraction.
        connection.execute(
            text(
                "INSERT INTO contacts (owner_id, last_name, birthday, created_at, updated_at)"
                " VALUES (:owner, 'Plain', '1990-06-12', :at, :at)"
            ),
            {"owner": owner_id, "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
        )
    answer = client.get("/api/contacts/birthdays", headers=ann).json()
    assert answer[0]["labels"] == [
        "Book club",
        "école",
        "ÉCOLE2",
        "Family",
        "zed",
    ]
    for item in answer:
        one = client.get(f"/api/contacts/{item['id']}", headers=ann).json()
        assert {
            k: v for k, v in item.items() if k not in ("next_birthday", "days_until", "age")
        } == one
    assert answer[0]["id"] == tricky["id"]
    assert answer[1]["created_at"] == answer[1]["updated_at"] == "2026-01-02T03:04:05Z"
