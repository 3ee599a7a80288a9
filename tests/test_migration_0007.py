"""Migration 0007 carries every contact of the first model into the new one with nothing lost:
written at the old head by plain SQL, read back through the API after the upgrade."""

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.test_service import alembic

Headers = dict[str, str]


def test_contacts_of_the_first_model_read_back_whole_after_the_upgrade(
    client: TestClient, ann: Headers, bob: Headers, sync_engine: Any, pin_now: Any
) -> None:
    ann_id = client.get("/api/users/me", headers=ann).json()["id"]
    bob_id = client.get("/api/users/me", headers=bob).json()["id"]
    down = alembic("downgrade", "0006")
    assert down.returncode == 0, down.stderr
    # New connections: an open SQLite connection may check a statement against the schema
    # it read before the migration.
    sync_engine.dispose()
    created = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)
    trashed = datetime(2026, 11, 20, tzinfo=UTC)
    rows = [
        # owner, first, last, email, phone, birthday, notes, favorite, version, deleted_at
        (ann_id, "Bob", "Jones", "bob@example.com", "+1 555 010 0199", "1990-12-03",
         'met at "PyCon"\nlast year', True, 3, None),
        (ann_id, "Олена", "Коваленко", "olena@example.com", "(044) 123-4567", "2000-02-29",
         None, False, 1, None),
        (ann_id, "Gone", "Away", "gone@example.com", "020 7946 0000", "1985-06-01",
         None, False, 2, trashed),
        # The same email as Bob's: a second user's contact, untouched by the first's.
        (bob_id, "Bob", "Jones", "bob@example.com", "555 0100", "1970-01-01",
         None, False, 1, None),
    ]  # fmt: skip
    with sync_engine.begin() as connection:
        ids = []
        for owner, first, last, email, phone, birthday, notes, favorite, version, at in rows:
            ids.append(
                connection.execute(
                    text(
                        "INSERT INTO contacts (owner_id, first_name, last_name, email, phone,"
                        " birthday, notes, favorite, version, deleted_at, created_at,"
                        " updated_at) VALUES (:owner, :first, :last, :email, :phone, :birthday,"
                        " :notes, :favorite, :version, :gone, :created, :created) RETURNING id"
                    ),
                    {
                        "owner": owner,
                        "first": first,
                        "last": last,
                        "email": email,
                        "phone": phone,
                        "birthday": datetime.fromisoformat(birthday).date(),
                        "notes": notes,
                        "favorite": favorite,
                        "version": version,
                        "gone": at,
                        "created": created,
                    },
                ).scalar_one()
            )
        label_id = connection.execute(
            text(
                "INSERT INTO labels (owner_id, name, name_key) VALUES (:owner, 'Family',"
                " 'family') RETURNING id"
            ),
            {"owner": ann_id},
        ).scalar_one()
        connection.execute(
            text("INSERT INTO contact_labels (contact_id, label_id) VALUES (:contact, :label)"),
            [{"contact": ids[0], "label": label_id}, {"contact": ids[2], "label": label_id}],
        )
    up = alembic("upgrade", "head")
    assert up.returncode == 0, up.stderr
    sync_engine.dispose()

    stamp = "2026-11-01T09:30:15.123456Z"
    bob_jones: dict[str, Any] = {
        "id": ids[0],
        "first_name": "Bob",
        "last_name": "Jones",
        "company": None,
        "job_title": None,
        "email": "bob@example.com",
        "phone": "+1 555 010 0199",
        "emails": [{"address": "bob@example.com", "label": None}],
        "phones": [{"number": "+1 555 010 0199", "label": None}],
        "addresses": [],
        "websites": [],
        "birthday": "1990-12-03",
        "notes": 'met at "PyCon"\nlast year',
        "favorite": True,
        "labels": ["Family"],
        "created_at": stamp,
        "updated_at": stamp,
    }
    olena = bob_jones | {
        "id": ids[1],
        "first_name": "Олена",
        "last_name": "Коваленко",
        "email": "olena@example.com",
        "phone": "(044) 123-4567",
        "emails": [{"address": "olena@example.com", "label": None}],
        "phones": [{"number": "(044) 123-4567", "label": None}],
        "birthday": "2000-02-29",
        "notes": None,
        "favorite": False,
        "labels": [],
    }
    gone = bob_jones | {
        "id": ids[2],
        "first_name": "Gone",
        "last_name": "Away",
        "email": "gone@example.com",
        "phone": "020 7946 0000",
        "emails": [{"address": "gone@example.com", "label": None}],
        "phones": [{"number": "020 7946 0000", "label": None}],
        "birthday": "1985-06-01",
        "notes": None,
        "favorite": False,
        "deleted_at": "2026-11-20T00:00:00Z",
    }
    one = client.get(f"/api/contacts/{ids[0]}", headers=ann)
    assert one.json() == bob_jones
    assert one.headers["etag"] == f'"{ids[0]}.4"'  # the ETag changed once: version 3 -> 4
    assert client.get("/api/contacts", headers=ann).json()["items"] == [bob_jones, olena]
    assert client.get("/api/contacts/trash", headers=ann).json()["items"] == [gone]
    bobs_own = client.get("/api/contacts", headers=bob).json()["items"]
    assert [(c["email"], c["phone"], c["birthday"]) for c in bobs_own] == [
        ("bob@example.com", "555 0100", "1970-01-01")
    ]
    # What the database derives from the moved data: search and birthdays find it.
    found = client.get("/api/contacts", headers=ann, params={"q": "1234567"}).json()["items"]
    assert found == [olena]
    pin_now(datetime(2027, 2, 27, 12, tzinfo=UTC))
    birthdays = client.get("/api/contacts/birthdays", headers=ann, params={"days": 2}).json()
    assert birthdays == [olena | {"next_birthday": "2027-02-28", "days_until": 1, "age": 27}]
