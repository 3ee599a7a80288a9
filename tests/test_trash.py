"""The trash: delete, list, restore, delete for good, empty, and the purge that needs no request."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from tests.helpers import contact_data, create_contact, race

Headers = dict[str, str]


def trash(client: TestClient, headers: Headers, **params: Any) -> dict[str, Any]:
    response = client.get("/api/contacts/trash", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def delete(client: TestClient, headers: Headers, contact: dict[str, Any]) -> None:
    response = client.delete(f"/api/contacts/{contact['id']}", headers=headers)
    assert response.status_code == 204, response.text


def rows(sync_engine: Any) -> list[tuple[Any, ...]]:
    with sync_engine.connect() as connection:
        return list(connection.execute(text("SELECT id, deleted_at FROM contacts ORDER BY id")))


def without_deleted_at(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "deleted_at"}


def test_a_deleted_contact_is_404_everywhere_in_the_book(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, first_name="Gone", birthday="1990-01-01")
    delete(client, ann, contact)
    url = f"/api/contacts/{contact['id']}"
    responses = [
        client.get(url, headers=ann),
        client.put(url, headers=ann, json=contact_data()),
        client.patch(url, headers=ann, json={"notes": "x"}),
        client.delete(url, headers=ann),
    ]
    assert [response.status_code for response in responses] == [404] * 4
    assert {response.json()["detail"] for response in responses} == {"Contact not found"}


def test_a_deleted_contact_is_in_no_list_search_birthdays_or_export(
    client: TestClient, ann: Headers
) -> None:
    kept = create_contact(client, ann, first_name="Kept", email="kept@example.com")
    gone = create_contact(client, ann, first_name="Gone", email="gone@example.com")
    delete(client, ann, gone)
    assert client.get("/api/contacts", headers=ann).json()["items"] == [kept]
    for params in ({"q": "gone"}, {"first_name": "Gone"}, {"email": "gone"}):
        assert client.get("/api/contacts", headers=ann, params=params).json()["total"] == 0
    birthdays = client.get("/api/contacts/birthdays?days=366", headers=ann).json()
    assert [item["id"] for item in birthdays] == [kept["id"]]
    for file_format in ("vcard", "csv"):
        exported = client.get(f"/api/contacts/export?format={file_format}", headers=ann).text
        assert "kept@example.com" in exported
        assert "gone@example.com" not in exported


def test_a_trashed_contacts_email_is_free_for_a_new_contact(
    client: TestClient, ann: Headers
) -> None:
    old = create_contact(client, ann, email="carol@example.com")
    delete(client, ann, old)
    new = create_contact(client, ann, email="Carol@example.com")
    assert new["id"] != old["id"]
    # A second trashed contact with that email: the trash may hold the email many times.
    delete(client, ann, new)
    assert trash(client, ann)["total"] == 2


def test_the_trash_pages_newest_deletion_first(client: TestClient, ann: Headers) -> None:
    contacts = [create_contact(client, ann, email=f"c{n}@example.com") for n in range(5)]
    for contact in (contacts[3], contacts[0], contacts[4], contacts[1]):
        delete(client, ann, contact)
    page = trash(client, ann)
    expected = [contacts[n]["id"] for n in (1, 4, 0, 3)]
    assert [item["id"] for item in page["items"]] == expected
    assert page | {"items": []} == {"items": [], "total": 4, "limit": 20, "offset": 0}
    second = trash(client, ann, limit=2, offset=2)
    assert [item["id"] for item in second["items"]] == expected[2:]
    assert second | {"items": []} == {"items": [], "total": 4, "limit": 2, "offset": 2}
    assert trash(client, ann, limit=2, offset=10) == {
        "items": [],
        "total": 4,
        "limit": 2,
        "offset": 10,
    }
    # Each item is the contact as it was, plus when it went.
    item = page["items"][0]
    assert without_deleted_at(item) == contacts[1]
    deleted_at = datetime.fromisoformat(item["deleted_at"])
    assert abs(deleted_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert [item["id"] for item in client.get("/api/contacts", headers=ann).json()["items"]] == [
        contacts[2]["id"]
    ]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
def test_bad_trash_parameters_are_422(
    client: TestClient, ann: Headers, params: dict[str, Any]
) -> None:
    assert client.get("/api/contacts/trash", headers=ann, params=params).status_code == 422


def test_restore_brings_a_contact_back_exactly_as_it_was(client: TestClient, ann: Headers) -> None:
    contact = create_contact(
        client, ann, notes="keep", favorite=True, labels=["Work", "family"], birthday="1980-02-29"
    )
    delete(client, ann, contact)
    response = client.post(f"/api/contacts/trash/{contact['id']}/restore", headers=ann)
    assert response.status_code == 200, response.text
    assert response.json() == contact
    assert response.json()["labels"] == ["family", "Work"]
    got = client.get(f"/api/contacts/{contact['id']}", headers=ann)
    assert got.json() == contact
    assert got.headers["etag"] == response.headers["etag"]
    assert trash(client, ann)["items"] == []
    assert client.get("/api/contacts", headers=ann).json()["items"] == [contact]


def test_restore_brings_a_contact_back_beside_one_with_its_email(
    client: TestClient, ann: Headers
) -> None:
    # Two contacts may share an email: the first model's 409 on restore is gone with it.
    old = create_contact(client, ann, email="carol@example.com", first_name="Old")
    delete(client, ann, old)
    new = create_contact(client, ann, email="carol@example.com", first_name="New")
    response = client.post(f"/api/contacts/trash/{old['id']}/restore", headers=ann)
    assert response.status_code == 200
    assert client.get("/api/contacts", headers=ann).json()["items"] == [new, response.json()]
    assert trash(client, ann)["total"] == 0


def test_restore_and_delete_for_good_are_404_for_a_contact_not_in_the_trash(
    client: TestClient, ann: Headers
) -> None:
    live = create_contact(client, ann)
    for contact_id in (live["id"], live["id"] + 1000, 0, 2**31):
        restore = client.post(f"/api/contacts/trash/{contact_id}/restore", headers=ann)
        assert restore.status_code == 404
        assert restore.json() == {"detail": "Contact not found in your trash"}
        assert client.delete(f"/api/contacts/trash/{contact_id}", headers=ann).status_code == 404
    assert client.get(f"/api/contacts/{live['id']}", headers=ann).json() == live


def test_delete_for_good_removes_the_row(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    gone = create_contact(client, ann, email="gone@example.com", labels=["Work"])
    kept = create_contact(client, ann, email="kept@example.com")
    delete(client, ann, gone)
    response = client.delete(f"/api/contacts/trash/{gone['id']}", headers=ann)
    assert response.status_code == 204
    assert response.content == b""
    assert [row[0] for row in rows(sync_engine)] == [kept["id"]]
    assert trash(client, ann)["total"] == 0
    assert client.post(f"/api/contacts/trash/{gone['id']}/restore", headers=ann).status_code == 404
    assert client.delete(f"/api/contacts/trash/{gone['id']}", headers=ann).status_code == 404
    # The label stays, on no contact.
    assert [
        (label["name"], label["contacts"])
        for label in client.get("/api/labels", headers=ann).json()
    ] == [("Work", 0)]


def test_emptying_the_trash_removes_every_trashed_row_and_nothing_else(
    client: TestClient, ann: Headers, bob: Headers, sync_engine: Any
) -> None:
    kept = create_contact(client, ann, email="kept@example.com")
    for n in range(3):
        delete(client, ann, create_contact(client, ann, email=f"gone{n}@example.com"))
    bobs = create_contact(client, bob, email="bobs@example.com")
    delete(client, bob, bobs)
    response = client.delete("/api/contacts/trash", headers=ann)
    assert response.status_code == 204
    assert trash(client, ann)["total"] == 0
    assert client.get("/api/contacts", headers=ann).json()["items"] == [kept]
    assert [row[0] for row in rows(sync_engine)] == [kept["id"], bobs["id"]]
    assert [item["id"] for item in trash(client, bob)["items"]] == [bobs["id"]]
    # An empty trash empties again.
    assert client.delete("/api/contacts/trash", headers=ann).status_code == 204


def test_another_users_trash_is_404_on_every_route_and_never_appears(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    bobs = create_contact(client, bob, first_name="Bobs")
    delete(client, bob, bobs)
    assert client.post(f"/api/contacts/trash/{bobs['id']}/restore", headers=ann).status_code == 404
    assert client.delete(f"/api/contacts/trash/{bobs['id']}", headers=ann).status_code == 404
    assert client.get(f"/api/contacts/{bobs['id']}", headers=ann).status_code == 404
    assert trash(client, ann)["total"] == 0
    assert client.delete("/api/contacts/trash", headers=ann).status_code == 204
    [item] = trash(client, bob)["items"]
    assert without_deleted_at(item) == bobs


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/contacts/trash"),
        ("DELETE", "/api/contacts/trash"),
        ("POST", "/api/contacts/trash/1/restore"),
        ("DELETE", "/api/contacts/trash/1"),
        ("GET", "/api/labels"),
        ("POST", "/api/labels"),
        ("GET", "/api/labels/1"),
        ("PATCH", "/api/labels/1"),
        ("DELETE", "/api/labels/1"),
    ],
)
def test_every_trash_and_label_route_needs_a_token(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json={"name": "Work"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_of_two_concurrent_restores_exactly_one_succeeds(client: TestClient, ann: Headers) -> None:
    for _ in range(10):
        contact = create_contact(client, ann)
        delete(client, ann, contact)
        url = f"/api/contacts/trash/{contact['id']}/restore"
        codes = race(client, [("POST", url, ann, None), ("POST", url, ann, None)])
        assert sorted(codes) == [200, 404]
        client.delete(f"/api/contacts/{contact['id']}", headers=ann)
        client.delete("/api/contacts/trash", headers=ann)


def test_a_restore_racing_a_delete_for_good_never_fails_with_5xx(
    client: TestClient, ann: Headers
) -> None:
    for _ in range(10):
        contact = create_contact(client, ann)
        delete(client, ann, contact)
        restore, purge = race(
            client,
            [
                ("POST", f"/api/contacts/trash/{contact['id']}/restore", ann, None),
                ("DELETE", f"/api/contacts/trash/{contact['id']}", ann, None),
            ],
        )
        assert (restore, purge) in ((200, 404), (404, 204))
        live = client.get(f"/api/contacts/{contact['id']}", headers=ann).status_code
        assert live == (200 if restore == 200 else 404)
        client.delete(f"/api/contacts/{contact['id']}", headers=ann)
        client.delete("/api/contacts/trash", headers=ann)


# --- The purge -------------------------------------------------------------------------------


def trashed_at(sync_engine: Any, contact: dict[str, Any], instant: datetime) -> None:

    from contacts_api.models import Contact

    # Through the column's type, which writes the instant as the app does (on SQLite a text).
    with sync_engine.begin() as connection:
        connection.execute(
            update(Contact).where(Contact.id == contact["id"]).values(deleted_at=instant)
        )


def wait_for(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def run_purge(sync_engine: Any, purger: Any) -> None:
    """Make the purge due now, as the next full hour would, and wait for its run."""
    from contacts_api.jobs import JOBS, scheduler

    runs = purger.runs
    with sync_engine.begin() as connection:
        connection.execute(
            update(JOBS)
            .where(JOBS.c.name == "purge-trash")
            .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    scheduler.wake()
    wait_for(lambda: purger.runs > runs)


def test_the_app_runs_the_hourly_purge_job_from_its_start(client: TestClient) -> None:
    import asyncio

    from contacts_api.jobs import scheduler

    names = client.portal.call(  # type: ignore[union-attr]
        lambda: {task.get_name() for task in asyncio.all_tasks()}
    )
    assert "jobs" in names
    assert scheduler.jobs["purge-trash"].every == timedelta(hours=1)


def test_the_purge_deletes_what_stayed_longer_than_the_retention_without_a_request(
    client: TestClient, ann: Headers, sync_engine: Any, trash_purger: Any
) -> None:
    from contacts_api.config import get_settings

    retention = timedelta(days=get_settings().TRASH_RETENTION_DAYS)
    assert retention == timedelta(days=30)
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    live = create_contact(client, ann, email="live@example.com")
    expired = create_contact(client, ann, email="expired@example.com", labels=["Work"])
    on_the_day = create_contact(client, ann, email="day@example.com")
    recent = create_contact(client, ann, email="recent@example.com")
    for contact in (expired, on_the_day, recent):
        delete(client, ann, contact)
    trashed_at(sync_engine, expired, now - retention - timedelta(seconds=1))
    trashed_at(sync_engine, on_the_day, now - retention)
    trashed_at(sync_engine, recent, now - timedelta(days=1))

    trash_purger.clock = lambda: now
    run_purge(sync_engine, trash_purger)
    assert [row[0] for row in rows(sync_engine)] == [live["id"], on_the_day["id"], recent["id"]]
    assert [item["id"] for item in trash(client, ann)["items"]] == [
        recent["id"],
        on_the_day["id"],
    ]
    assert client.get("/api/contacts", headers=ann).json()["items"] == [live]


def test_one_purge_run_deletes_at_most_a_batch_oldest_first(
    client: TestClient, ann: Headers, sync_engine: Any, trash_purger: Any
) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    contacts = [create_contact(client, ann, email=f"c{n}@example.com") for n in range(5)]
    for n, contact in enumerate(contacts):
        delete(client, ann, contact)
        trashed_at(sync_engine, contact, now - timedelta(days=40 + n))
    trash_purger.clock = lambda: now
    trash_purger.batch = 2
    assert client.portal.call(trash_purger.purge_once) == 2  # type: ignore[union-attr]
    # The two oldest went: 44 and 43 days in the trash.
    assert [row[0] for row in rows(sync_engine)] == [contact["id"] for contact in contacts[:3]]

    # One run works off a backlog in batches, one soon after the other.
    trash_purger.backlog_interval = 0.05
    purged = trash_purger.purged
    run_purge(sync_engine, trash_purger)
    assert rows(sync_engine) == []
    assert trash_purger.purged == purged + 3


def test_a_failed_purge_run_is_logged_and_the_next_one_runs(
    client: TestClient,
    ann: Headers,
    sync_engine: Any,
    trash_purger: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    contact = create_contact(client, ann)
    delete(client, ann, contact)
    trashed_at(sync_engine, contact, now - timedelta(days=31))
    trash_purger.clock = lambda: now

    async def database_down() -> int:
        raise OSError("connection refused")

    trash_purger.purge_once = database_down
    run_purge(sync_engine, trash_purger)
    assert "Purging the trash failed (OSError: connection refused)" in caplog.text
    assert len(rows(sync_engine)) == 1

    del trash_purger.purge_once
    run_purge(sync_engine, trash_purger)
    assert rows(sync_engine) == []


def test_a_purge_run_that_hangs_ends_at_its_timeout(
    client: TestClient, sync_engine: Any, trash_purger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    async def never_answers() -> int:
        await asyncio.sleep(3600)
        return 0

    trash_purger.purge_once = never_answers
    trash_purger.timeout = 0.2
    started = time.monotonic()
    run_purge(sync_engine, trash_purger)
    assert time.monotonic() - started < 3
    assert "Purging the trash failed" in caplog.text
