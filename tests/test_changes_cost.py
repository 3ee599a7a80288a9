"""The changes feed costs what changed, not the book: after a few changes in a book of 5,000,
the statements of a read touch a few rows of the log and of the contacts, found by index
(PostgreSQL: EXPLAIN ANALYZE's counts of rows read; SQLite: EXPLAIN QUERY PLAN searches)."""

import json
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, text

from tests.helpers import create_contact
from tests.test_changes import changes, user_id

Headers = dict[str, str]
BOOK = 5_000
TABLES = ("contact_changes", "contacts")


def fill_book(sync_engine: Any, owner: int, size: int = BOOK) -> None:
    """`size` contacts written by plain SQL, logged by the triggers like any others."""
    with sync_engine.begin() as connection:
        connection.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :size)"
                " INSERT INTO contacts (owner_id, first_name, created_at, updated_at)"
                " SELECT :owner, 'Bulk ' || i, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n"
            ),
            {"owner": owner, "size": size},
        )


def read_to_the_end(client: TestClient, headers: Headers) -> str:
    page = changes(client, headers, limit=1000)
    while page["more"]:
        page = changes(client, headers, since=page["next"], limit=1000)
    return str(page["next"])


def scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a PostgreSQL plan (JSON form) that reads a table."""
    if "Relation Name" in plan:
        yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def test_a_read_after_three_changes_reads_a_few_rows_of_a_large_book(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    from contacts_api.db import engine

    owner = user_id(sync_engine, "ann@example.com")
    fill_book(sync_engine, owner)
    token = read_to_the_end(client, ann)
    with sync_engine.connect() as connection:
        # Statistics as autovacuum would gather them in a database in use.
        connection.execute(text("ANALYZE"))
        connection.commit()
        before = connection.execute(
            text("SELECT last_change FROM sync_states WHERE user_id = :u"), {"u": owner}
        ).scalar_one()
    book = client.get("/api/contacts", headers=ann, params={"limit": 3}).json()["items"]
    client.patch(f"/api/contacts/{book[0]['id']}", headers=ann, json={"notes": "changed"})
    client.delete(f"/api/contacts/{book[1]['id']}", headers=ann)
    create_contact(client, ann, first_name="New")

    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "contact_changes" in statement:
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        page = changes(client, ann, since=token)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert (len(page["changed"]), page["deleted"]) == (2, [book[1]["id"]])
    assert [statement.split()[0] for statement, _ in statements] == ["UPDATE", "SELECT"]

    with sync_engine.connect() as connection:
        # The same statements again on the state before that read (the three changes
        # pending), in a transaction that is rolled back.
        connection.execute(
            text(
                "UPDATE contact_changes SET change_id = NULL"
                " WHERE user_id = :u AND change_id > :before"
            ),
            {"u": owner, "before": before},
        )
        connection.execute(
            text("UPDATE sync_states SET last_change = :before WHERE user_id = :u"),
            {"u": owner, "before": before},
        )
        if sync_engine.dialect.name == "postgresql":
            read = 0
            for statement, parameters in statements:
                explained = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                ).scalar_one()
                plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]
                for node in scans(plan["Plan"]):
                    if node["Relation Name"] in TABLES:
                        assert node["Node Type"] != "Seq Scan", node
                        read += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * (
                            node["Actual Loops"]
                        )
            # 3 pending rows numbered, 3 rows of the log read and their 3 contacts joined
            # (the update finds each numbered row again by its key): a few, of 5,000.
            print("READ", read)
            assert read <= 15, read
        else:
            for statement, parameters in statements:
                plan = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                ).all()
                print("PLAN", plan)
                for *_, detail in plan:
                    if any(f" {table} " in f" {detail} " for table in TABLES):
                        assert detail.startswith("SEARCH"), (detail, statement)
        connection.rollback()
