"""The birthday calendar's address: made, replaced, revoked; the calendar it serves, its ETag,
and what it never shows (the trash, another user's book). Expansion over windows is in
test_birthday_calendar.py."""

import hashlib
import re
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import text

from tests.helpers import PASSWORD, bearer, create_contact, log_in
from tests.smtp import SmtpServer
from tests.test_accounts import NEW_PASSWORD, reset, reset_token

Headers = dict[str, str]
CALENDAR = "/api/users/me/birthday-calendar"
FEED_URL = re.compile(r"http://contacts\.test(/calendars/birthdays/([A-Za-z0-9_-]{43})\.ics)")
NOT_FOUND = {"detail": "Calendar not found"}


def new_calendar(client: TestClient, headers: Headers) -> str:
    """Make the user's calendar address; return its path."""
    response = client.post(CALENDAR, headers=headers)
    assert response.status_code == 201, response.text
    match = FEED_URL.fullmatch(response.json()["url"])
    assert match, response.json()
    assert response.headers["location"] == response.json()["url"]
    return match.group(1)


def events(response: Any) -> list[tuple[str, str, date, str]]:
    """(UID, SUMMARY, DTSTART, RRULE) of each event of a served calendar."""
    assert response.status_code == 200, response.text
    return [
        (
            str(event["UID"]),
            str(event["SUMMARY"]),
            event.decoded("DTSTART"),
            event["RRULE"].to_ical().decode(),  # type: ignore[union-attr]  # bytes
        )
        for event in Calendar.from_ical(response.content).walk("VEVENT")
    ]


def summaries(client: TestClient, path: str) -> list[str]:
    return [summary for _, summary, _, _ in events(client.get(path))]


def is_gone(client: TestClient, path: str) -> bool:
    response = client.get(path)
    return (response.status_code, response.json()) == (404, NOT_FOUND)


def test_the_calendar_has_an_all_day_yearly_event_for_each_birthday(
    client: TestClient, ann: Headers
) -> None:
    smith = create_contact(client, ann, first_name="Ann", last_name="Smith", birthday="1990-01-02")
    acme = create_contact(
        client, ann, first_name=None, last_name=None, company="Acme Ltd", birthday="--02-29"
    )
    create_contact(client, ann, first_name="Nat", birthday=None)
    path = new_calendar(client, ann)
    response = client.get(path)
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.content.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    calendar = Calendar.from_ical(response.content)
    assert {name: str(calendar[name]) for name in ("CALSCALE", "X-WR-CALNAME", "NAME")} == {
        "CALSCALE": "GREGORIAN",
        "X-WR-CALNAME": "Birthdays",
        "NAME": "Birthdays",
    }
    assert events(response) == [
        (f"birthday-{smith['id']}@contacts.test", "Ann Smith", date(1990, 1, 2), "FREQ=YEARLY"),
        (
            f"birthday-{acme['id']}@contacts.test",
            "Acme Ltd",
            date(1604, 2, 29),
            "FREQ=YEARLY;BYMONTHDAY=-1;BYMONTH=2",
        ),
    ]
    first, second = calendar.walk("VEVENT")
    assert first["DTSTART"].params["VALUE"] == "DATE"  # all day
    assert first.decoded("DTEND") == date(1990, 1, 3)
    assert str(first["TRANSP"]) == "TRANSPARENT"
    assert str(first["DESCRIPTION"]) == "Born in 1990"
    assert "DESCRIPTION" not in second  # no year, no age to tell


def test_a_contact_keeps_its_event_uid_through_edits_and_the_trash(
    client: TestClient, ann: Headers
) -> None:
    contact = create_contact(client, ann, first_name="Ann", birthday="1990-01-02")
    path = new_calendar(client, ann)
    [(uid, *_)] = events(client.get(path))
    client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={"birthday": "1990-03-04"})
    assert events(client.get(path)) == [(uid, "Ann Jones", date(1990, 3, 4), "FREQ=YEARLY")]
    assert client.delete(f"/api/contacts/{contact['id']}", headers=ann).status_code == 204
    assert events(client.get(path)) == []
    client.post(f"/api/contacts/trash/{contact['id']}/restore", headers=ann)
    assert [event[0] for event in events(client.get(path))] == [uid]


def test_the_calendar_shows_only_its_owners_book(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, ann, first_name="Ann's", last_name="friend", birthday="1990-01-02")
    create_contact(client, bob, first_name="Bob's", last_name="friend", birthday="1990-01-03")
    assert summaries(client, new_calendar(client, ann)) == ["Ann's friend"]
    assert summaries(client, new_calendar(client, bob)) == ["Bob's friend"]


def test_the_etag_holds_until_the_book_changes(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, first_name="Ann", birthday="1990-01-02")
    path = new_calendar(client, ann)
    first = client.get(path)
    tag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)  # strong
    assert first.headers["cache-control"] == "private, no-cache"
    assert client.get(path).headers["etag"] == tag
    not_modified = client.get(path, headers={"If-None-Match": tag})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == tag
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={"last_name": "Lee"})
    changed = client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert summaries(client, path) == ["Ann Lee"]
    # A contact without a birthday is not in the calendar: the calendar stays the same.
    create_contact(client, ann, first_name="Nat", birthday=None)
    again = client.get(path, headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


def test_a_new_address_replaces_the_old_one_at_once(client: TestClient, ann: Headers) -> None:
    create_contact(client, ann, birthday="1990-01-02")
    old = new_calendar(client, ann)
    new = new_calendar(client, ann)
    assert new != old
    assert is_gone(client, old)
    assert summaries(client, new) == ["Carol Jones"]


def test_deleting_the_address_stops_it_and_a_new_one_can_be_made(
    client: TestClient, ann: Headers
) -> None:
    path = new_calendar(client, ann)
    assert client.delete(CALENDAR, headers=ann).status_code == 204
    assert is_gone(client, path)
    assert client.delete(CALENDAR, headers=ann).status_code == 204  # none is fine too
    assert events(client.get(new_calendar(client, ann))) == []


def test_unknown_revoked_and_malformed_addresses_get_the_same_answer(
    client: TestClient, ann: Headers
) -> None:
    revoked = new_calendar(client, ann)
    client.delete(CALENDAR, headers=ann)
    unknown = "/calendars/birthdays/" + "A" * 43 + ".ics"
    malformed = "/calendars/birthdays/short.ics"

    def answer(path: str) -> tuple[int, bytes, dict[str, str]]:
        response = client.get(path)
        headers = dict(response.headers)
        del headers["x-request-id"]
        return response.status_code, response.content, headers

    assert answer(revoked) == answer(unknown) == answer(malformed)
    assert answer(unknown)[:2] == (404, b'{"detail":"Calendar not found"}')


def test_only_a_hash_of_the_secret_is_stored(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    path = new_calendar(client, ann)
    secret = FEED_URL.fullmatch("http://contacts.test" + path).group(2)  # type: ignore[union-attr]
    with sync_engine.connect() as connection:
        [row] = connection.execute(text("SELECT * FROM birthday_calendars")).mappings().all()
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(row))


def test_making_or_deleting_an_address_needs_an_open_session(
    client: TestClient, ann: Headers
) -> None:
    assert client.post(CALENDAR).status_code == 401
    assert client.delete(CALENDAR).status_code == 401
    client.post("/api/auth/logout-all", headers=ann)
    # The token still carries a good signature: the session is what is checked.
    response = client.post(CALENDAR, headers=ann)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- Revocation --------------------------------------------------------------------------------


def test_logging_out_everywhere_revokes_the_address(client: TestClient, ann: Headers) -> None:
    path = new_calendar(client, ann)
    assert client.post("/api/auth/logout-all", headers=ann).status_code == 204
    assert is_gone(client, path)


def test_logging_out_one_session_keeps_the_address(client: TestClient, ann: Headers) -> None:
    path = new_calendar(client, ann)
    tokens = log_in(client, "ann@example.com")
    client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert events(client.get(path)) == []


def test_a_password_change_revokes_the_address(client: TestClient, ann: Headers) -> None:
    path = new_calendar(client, ann)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.put("/api/users/me/password", headers=ann, json=change).status_code == 204
    assert is_gone(client, path)


def test_a_password_reset_revokes_the_address(
    client: TestClient, ann: Headers, mailbox: SmtpServer
) -> None:
    path = new_calendar(client, ann)
    assert reset(client, reset_token(client, mailbox, "ann@example.com")).status_code == 204
    assert is_gone(client, path)
    headers = bearer(log_in(client, "ann@example.com", NEW_PASSWORD))
    assert events(client.get(new_calendar(client, headers))) == []


def test_deleting_the_account_deletes_the_address(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    path = new_calendar(client, ann)
    body = {"current_password": PASSWORD}
    assert client.request("DELETE", "/api/users/me", headers=ann, json=body).status_code == 204
    assert is_gone(client, path)
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM birthday_calendars")).scalar() == 0


# --- Docs ----------------------------------------------------------------------------------------


def test_the_calendar_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    feed = paths["/calendars/birthdays/{secret}.ics"]["get"]
    assert feed["tags"] == ["birthday calendar"]
    assert "security" not in feed  # no token: the secret is the key
    assert set(feed["responses"]) == {"200", "304", "404"}
    [(media_type, content)] = feed["responses"]["200"]["content"].items()
    assert media_type == "text/calendar"
    assert content["example"].startswith("BEGIN:VCALENDAR\r\n")
    assert "ETag" in feed["responses"]["200"]["headers"]
    made = paths["/api/users/me/birthday-calendar"]["post"]["responses"]
    assert set(made) == {"201", "401"}
    assert made["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BirthdayCalendarUrl"
    }
    assert set(paths["/api/users/me/birthday-calendar"]["delete"]["responses"]) == {"204", "401"}
