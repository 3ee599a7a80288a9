"""The changes feed: a first read of the whole book, then only what changed, a page at a time,
nothing lost when the book changes between pages, deletions of every kind, rows written by
plain SQL, tokens refused with 410, and the tombstones the purge prunes."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.helpers import PASSWORD, create_contact

Headers = dict[str, str]
GONE = {"detail": "The sync token is unknown or too old; sync again from the start, without since"}


def changes(client: TestClient, headers: Headers, **params: Any) -> dict[str, Any]:
    response = client.get("/api/contacts/changes", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def read(client: TestClient, headers: Headers, contact_id: int) -> dict[str, Any]:
    response = client.get(f"/api/contacts/{contact_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def user_id(sync_engine: Any, email: str) -> int:
    with sync_engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
        return int(found.scalar_one())


def test_the_first_read_is_the_whole_book_in_the_order_it_was_written(
    client: TestClient, ann: Headers
) -> None:
    made = [create_contact(client, ann, first_name=name) for name in ("Zoe", "Adam", "Mia")]
    trashed = create_contact(client, ann, first_name="Gone")
    assert client.delete(f"/api/contacts/{trashed['id']}", headers=ann).status_code == 204

    page = changes(client, ann)
    # As GET answers each, labels and primary email included; nothing of what left the book.
    assert page == {"changed": made, "deleted": [], "next": page["next"], "more": False}
    assert changes(client, ann, since=page["next"]) == {
        "changed": [],
        "deleted": [],
        "next": page["next"],
        "more": False,
    }


def test_a_token_brings_what_changed_since_it_each_contact_once_as_it_is_now(
    client: TestClient, ann: Headers
) -> None:
    a, b, c = (create_contact(client, ann, first_name=name) for name in ("Ann", "Ben", "Cy"))
    token = changes(client, ann)["next"]
    client.patch(f"/api/contacts/{b['id']}", headers=ann, json={"notes": "first"})
    client.delete(f"/api/contacts/{c['id']}", headers=ann)
    d = create_contact(client, ann, first_name="Dee", labels=["Family"])
    client.patch(f"/api/contacts/{b['id']}", headers=ann, json={"notes": "second"})

    page = changes(client, ann, since=token)
    # b changed twice: listed once, at its last change, as it is now.
    assert page["changed"] == [d, read(client, ann, b["id"])]
    assert page["changed"][1]["notes"] == "second"
    assert page["deleted"] == [c["id"]]
    assert page["more"] is False
    assert a not in page["changed"]


def test_pages_follow_each_other_and_a_change_between_pages_comes_in_a_later_one(
    client: TestClient, ann: Headers
) -> None:
    c1, c2, c3, c4, c5 = (create_contact(client, ann, first_name=f"C{n}") for n in range(1, 6))
    first = changes(client, ann, limit=2)
    assert (first["changed"], first["more"]) == ([c1, c2], True)

    # While the client pages: a contact it has is changed, another is added, one is deleted.
    patched = client.patch(f"/api/contacts/{c1['id']}", headers=ann, json={"notes": "new"})
    c6 = create_contact(client, ann, first_name="C6")
    client.delete(f"/api/contacts/{c4['id']}", headers=ann)

    second = changes(client, ann, since=first["next"], limit=2)
    third = changes(client, ann, since=second["next"], limit=2)
    fourth = changes(client, ann, since=third["next"], limit=2)
    # c4 left its place (4) for the end: each contact is listed once, at its last change.
    assert (second["changed"], second["deleted"], second["more"]) == ([c3, c5], [], True)
    assert (third["changed"], third["deleted"], third["more"]) == ([patched.json(), c6], [], True)
    assert (fourth["changed"], fourth["deleted"], fourth["more"]) == ([], [c4["id"]], False)
    # The copy a client builds from the pages is the book.
    copy: dict[int, dict[str, Any]] = {}
    for page in (first, second, third, fourth):
        copy |= {contact["id"]: contact for contact in page["changed"]}
        for gone in page["deleted"]:
            copy.pop(gone, None)
    book = client.get("/api/contacts", headers=ann, params={"limit": 100}).json()["items"]
    assert sorted(copy.values(), key=lambda contact: contact["id"]) == sorted(
        book, key=lambda contact: contact["id"]
    )


def test_trash_restore_delete_for_good_and_empty_trash_are_reported(
    client: TestClient, ann: Headers
) -> None:
    a, b, c = (create_contact(client, ann, first_name=name) for name in ("Ann", "Ben", "Cy"))
    token = changes(client, ann)["next"]
    for contact in (a, b, c):
        client.delete(f"/api/contacts/{contact['id']}", headers=ann)
    page = changes(client, ann, since=token)
    assert (page["changed"], page["deleted"]) == ([], [a["id"], b["id"], c["id"]])

    restored = client.post(f"/api/contacts/trash/{b['id']}/restore", headers=ann).json()
    page = changes(client, ann, since=page["next"])
    assert (page["changed"], page["deleted"]) == ([restored], [])

    # Deleting for good what the client already heard of as deleted tells it nothing new.
    assert client.delete(f"/api/contacts/trash/{a['id']}", headers=ann).status_code == 204
    assert client.delete("/api/contacts/trash", headers=ann).status_code == 204
    page = changes(client, ann, since=page["next"])
    assert (page["changed"], page["deleted"]) == ([], [])

    # A contact deleted for good straight from a client's copy: deleted, once.
    client.delete(f"/api/contacts/{b['id']}", headers=ann)
    client.delete(f"/api/contacts/trash/{b['id']}", headers=ann)
    page = changes(client, ann, since=page["next"])
    assert (page["changed"], page["deleted"]) == ([], [b["id"]])


def test_a_label_renamed_or_deleted_changes_the_contacts_that_have_it(
    client: TestClient, ann: Headers
) -> None:
    tagged = create_contact(client, ann, first_name="Tagged", labels=["Work"])
    create_contact(client, ann, first_name="Plain")
    token = changes(client, ann)["next"]
    label = client.get("/api/labels", headers=ann).json()[0]
    client.patch(f"/api/labels/{label['id']}", headers=ann, json={"name": "Job"})
    page = changes(client, ann, since=token)
    assert page["changed"] == [read(client, ann, tagged["id"])]
    assert page["changed"][0]["labels"] == ["Job"]


def test_contacts_written_by_plain_sql_are_in_the_feed(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    owner = user_id(sync_engine, "ann@example.com")
    kept = create_contact(client, ann, first_name="Kept")
    token = changes(client, ann)["next"]
    now = datetime.now(UTC)
    with sync_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contacts (owner_id, first_name, created_at, updated_at)"
                " VALUES (:owner, 'Bulk', :now, :now), (:owner, 'Load', :now, :now)"
            ),
            {"owner": owner, "now": now},
        )
        connection.execute(
            text("UPDATE contacts SET notes = 'by hand' WHERE id = :id"), {"id": kept["id"]}
        )
    page = changes(client, ann, since=token)
    ids = [contact["id"] for contact in page["changed"]]
    assert [contact["first_name"] for contact in page["changed"]] == ["Bulk", "Load", "Kept"]
    assert page["changed"][2]["notes"] == "by hand"

    with sync_engine.begin() as connection:
        connection.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": ids[0]})
        connection.execute(
            text("UPDATE contacts SET deleted_at = :now WHERE id = :id"), {"id": ids[1], "now": now}
        )
    page = changes(client, ann, since=page["next"])
    assert (page["changed"], page["deleted"]) == ([], [ids[0], ids[1]])


def test_bad_unknown_and_other_users_tokens_are_410(
    client: TestClient, ann: Headers, bob: Headers, sync_engine: Any
) -> None:
    create_contact(client, ann)
    anns = changes(client, ann)["next"]
    bobs = changes(client, bob)["next"]
    owner = user_id(sync_engine, "ann@example.com")
    for since in (
        bobs,
        f"{owner}-99",  # a number not given yet
        "",
        "abc",
        f"{owner}-1-2",
        f"{owner}--1",
        f" {anns}",
        "9" * 200,
        f"{owner}-1\x00",
    ):
        response = client.get("/api/contacts/changes", headers=ann, params={"since": since})
        assert (response.status_code, response.json()) == (410, GONE), since
    assert changes(client, ann, since=anns)["changed"] == []


def test_limit_is_1_to_1000_and_the_feed_needs_a_token(client: TestClient, ann: Headers) -> None:
    for limit in (0, 1001, "x"):
        response = client.get("/api/contacts/changes", headers=ann, params={"limit": limit})
        assert response.status_code == 422, limit
    assert changes(client, ann, limit=1000)["more"] is False
    response = client.get("/api/contacts/changes")
    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated"})


def test_each_user_sees_only_their_own_changes(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    anns = create_contact(client, ann, first_name="Ann's")
    bobs = create_contact(client, bob, first_name="Bob's")
    ann_token = changes(client, ann)["next"]
    assert changes(client, bob)["changed"] == [bobs]
    client.patch(f"/api/contacts/{bobs['id']}", headers=bob, json={"notes": "x"})
    client.delete(f"/api/contacts/{bobs['id']}", headers=bob)
    assert changes(client, ann, since=ann_token) == {
        "changed": [],
        "deleted": [],
        "next": ann_token,
        "more": False,
    }
    assert changes(client, ann)["changed"] == [anns]


def test_deleting_an_account_with_contacts_deletes_its_log(
    client: TestClient, ann: Headers, bob: Headers, sync_engine: Any
) -> None:
    for name in ("One", "Two"):
        create_contact(client, ann, first_name=name)
    create_contact(client, bob)
    changes(client, ann)
    client.delete(f"/api/contacts/{create_contact(client, ann)['id']}", headers=ann)
    response = client.request(
        "DELETE", "/api/users/me", headers=ann, json={"current_password": PASSWORD}
    )
    assert response.status_code == 204, response.text
    with sync_engine.connect() as connection:
        owners = connection.execute(text("SELECT DISTINCT user_id FROM contact_changes"))
        assert list(owners.scalars()) == [user_id(sync_engine, "bob@example.com")]
        assert connection.execute(text("SELECT count(*) FROM sync_states")).scalar_one() == 0


def test_tokens_hold_30_days_and_the_purge_prunes_tombstones_after_31(
    client: TestClient, ann: Headers, sync_engine: Any, trash_purger: Any
) -> None:
    kept, gone = create_contact(client, ann, first_name="Kept"), create_contact(client, ann)
    before = changes(client, ann)["next"]
    client.delete(f"/api/contacts/{gone['id']}", headers=ann)
    after = changes(client, ann, since=before)
    assert after["deleted"] == [gone["id"]]
    now = datetime.now(UTC)

    # 30 days on: the contact is purged from the trash, its tombstone stays, tokens hold.
    trash_purger.clock = lambda: now + timedelta(days=30, hours=1)
    assert client.portal.call(trash_purger.purge_once) == 1  # type: ignore[union-attr]
    assert client.portal.call(trash_purger.prune_once) == 0  # type: ignore[union-attr]
    assert changes(client, ann, since=before)["deleted"] == [gone["id"]]

    # 32 days on: the tombstone goes, and a token from before it would miss the deletion.
    trash_purger.clock = lambda: now + timedelta(days=32)
    assert client.portal.call(trash_purger.prune_once) == 1  # type: ignore[union-attr]
    response = client.get("/api/contacts/changes", headers=ann, params={"since": before})
    assert (response.status_code, response.json()) == (410, GONE)
    assert changes(client, ann, since=after["next"])["changed"] == []
    assert changes(client, ann)["changed"] == [kept]
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM contact_changes")).scalar_one() == 1


def test_the_hourly_purge_job_prunes_tombstones_without_a_request(
    client: TestClient, ann: Headers, trash_purger: Any, sync_engine: Any
) -> None:
    from tests.test_trash import run_purge

    gone = create_contact(client, ann)
    client.delete(f"/api/contacts/{gone['id']}", headers=ann)
    changes(client, ann)  # numbers the tombstone; a pending one waits for its number
    now = datetime.now(UTC)
    trash_purger.clock = lambda: now + timedelta(days=32)
    pruned = trash_purger.pruned
    run_purge(sync_engine, trash_purger)
    assert trash_purger.pruned == pruned + 1
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM contact_changes")).scalar_one() == 0


def test_the_triggers_that_write_the_log_exist(sync_engine: Any, client: TestClient) -> None:
    # A later migration that rebuilds `contacts` on SQLite (Alembic's batch mode) drops them
    # unless it creates them again: this is the test that says so.
    with sync_engine.connect() as connection:
        if sync_engine.dialect.name == "postgresql":
            found = connection.execute(
                text(
                    "SELECT DISTINCT trigger_name FROM information_schema.triggers"
                    " WHERE event_object_table = 'contacts' ORDER BY trigger_name"
                )
            )
        else:
            found = connection.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                    " AND tbl_name = 'contacts' ORDER BY name"
                )
            )
        assert list(found.scalars()) == [
            "contacts_log_delete",
            "contacts_log_insert",
            "contacts_log_update",
        ]


@pytest.mark.parametrize("action", ["update", "delete"])
def test_a_change_being_written_during_a_read_is_never_lost(
    client: TestClient, ann: Headers, sync_engine: Any, action: str
) -> None:
    contact = create_contact(client, ann, first_name="Busy")
    token = changes(client, ann)["next"]
    client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={"notes": "committed"})
    statement = {
        "update": "UPDATE contacts SET notes = 'in progress' WHERE id = :id",
        "delete": "DELETE FROM contacts WHERE id = :id",
    }[action]
    with sync_engine.connect() as writer, ThreadPoolExecutor(1) as pool:
        writer.execute(text(statement), {"id": contact["id"]})
        reading = pool.submit(changes, client, ann, since=token)
        if sync_engine.dialect.name == "postgresql":
            # The write in progress holds the contact's row of the log: the read neither
            # waits for it nor numbers the row, which stays pending for the next read.
            during = reading.result(timeout=10)
            assert (during["changed"], during["deleted"]) == ([], [])
            writer.commit()
        else:
            # SQLite has one writer at a time: the read (a writer: it numbers) waits for the
            # write to commit, and then has it.
            time.sleep(0.3)
            assert not reading.done()
            writer.commit()
            during = reading.result(timeout=10)
    after = changes(client, ann, since=during["next"])
    last = after if sync_engine.dialect.name == "postgresql" else during
    if action == "update":
        assert ([item["notes"] for item in last["changed"]], last["deleted"]) == (
            ["in progress"],
            [],
        )
    else:
        assert (last["changed"], last["deleted"]) == ([], [contact["id"]])
