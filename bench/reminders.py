"""How long the birthday-reminder run takes: `python -m bench.reminders`.

Creates a fresh database on BENCH_DATABASE_URL (default: the local PostgreSQL server; a
`sqlite://` URL for a SQLite file in a temporary folder), seeds USERS
verified users with reminders on (days_before [0, 7] at 08:00 UTC) and CONTACTS_EACH contacts
each (bench/seed.py's fake books: every contact with a birthday), then times one run of
`contacts_api.reminders.run_reminders` at 09:00 UTC, when every user's hour has come: the
claims, the birthday reads, the messages written to the outbox. Then a second run at 09:05,
which must find nothing left to do. It prints the figures and writes them as JSON to
bench/results/reminders.json.

    BENCH_USERS=10000 BENCH_CONTACTS_EACH=50 .venv/bin/python -m bench.reminders
    BENCH_DATABASE_URL=sqlite:// .venv/bin/python -m bench.reminders

BENCH_KEEP=1 (PostgreSQL) keeps the seeded database after the run, and a run with BENCH_KEEP=1
that finds it uses it again (its reminders and outbox reset) instead of seeding for minutes.
"""

import asyncio
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.database import create, drop, migrate
from bench.load import REPOSITORY
from bench.seed import fake_contacts

USERS = int(os.environ.get("BENCH_USERS", "10000"))
CONTACTS_EACH = int(os.environ.get("BENCH_CONTACTS_EACH", "50"))
DATABASE = "contacts_api_bench_reminders"
KEEP = os.environ.get("BENCH_KEEP") == "1"
# The day of the run, whatever day the bench runs on: the fake birthdays spread over the year.
RUN_AT = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def reset(libpq_url: str) -> None:
    """A kept database as the seed left it: no day checked or sent, no message."""
    with psycopg.connect(libpq_url) as conn:
        conn.execute("UPDATE reminder_settings SET checked_on = NULL, sent_on = NULL")
        conn.execute("DELETE FROM outbox")


def seed_sqlite(path: str) -> None:
    """The same rows as `seed`, in a SQLite file."""
    rng = random.Random(2026)
    users = range(1, USERS + 1)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO users (id, email, password_hash, email_verified, created_at)"
            " VALUES (?, ?, 'x', 1, ?)",
            ((user_id, f"user{user_id}@example.com", RUN_AT.isoformat()) for user_id in users),
        )
        conn.executemany(
            "INSERT INTO reminder_settings (user_id, enabled, days_before, hour, time_zone)"
            " VALUES (?, 1, '[0,7]', 8, 'UTC')",
            ((user_id,) for user_id in users),
        )
        conn.executemany(
            "INSERT INTO contacts (owner_id, first_name, last_name, company, job_title, emails,"
            " phones, addresses, websites, birthday, notes, created_at, updated_at, uid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (*row[:-2], row[-2].isoformat(), row[-1].isoformat(), uuid.uuid4().urn)
                for user_id in users
                for row in fake_contacts(user_id, CONTACTS_EACH, rng)
            ),
        )
        conn.execute("ANALYZE")


def seed(libpq_url: str) -> None:
    """USERS verified users with reminders on, CONTACTS_EACH contacts each, loaded with COPY."""
    rng = random.Random(2026)
    with psycopg.connect(libpq_url) as conn:
        with conn.cursor().copy(
            "COPY users (id, email, password_hash, email_verified, created_at) FROM STDIN"
        ) as copy:
            for user_id in range(1, USERS + 1):
                copy.write_row((user_id, f"user{user_id}@example.com", "x", True, RUN_AT))
        conn.execute("SELECT setval('users_id_seq', %s)", (USERS,))
        with conn.cursor().copy(
            "COPY reminder_settings (user_id, enabled, days_before, hour, time_zone) FROM STDIN"
        ) as copy:
            for user_id in range(1, USERS + 1):
                copy.write_row((user_id, True, "[0,7]", 8, "UTC"))
        with conn.cursor().copy(
            "COPY contacts (owner_id, first_name, last_name, company, job_title, emails,"
            " phones, addresses, websites, birthday, notes, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for user_id in range(1, USERS + 1):
                for row in fake_contacts(user_id, CONTACTS_EACH, rng):
                    copy.write_row(row)
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


async def timed_runs() -> list[dict[str, float | int]]:
    # Imported here: the app's engine is made from DATABASE_URL at import.
    from contacts_api.db import engine
    from contacts_api.reminders import run_reminders

    figures = []
    for minutes in (0, 5):
        started, cpu = time.perf_counter(), time.process_time()
        report = await run_reminders(RUN_AT.replace(minute=minutes))
        seconds = time.perf_counter() - started
        # The process's CPU too: on a loaded machine it varies less than the wall clock.
        cpu = time.process_time() - cpu
        figures.append(
            {"checked": report.checked, "sent": report.sent, "seconds": seconds, "cpu": cpu}
        )
    await engine.dispose()
    return figures


def outbox_rows(count: Any) -> int | None:
    try:
        row = count("SELECT count(*) FROM outbox")
    except (psycopg.errors.UndefinedTable, sqlite3.OperationalError):  # before the outbox
        return None
    return int(row[0])


def main() -> None:
    started = time.monotonic()
    sqlite = os.environ.get("BENCH_DATABASE_URL", "").startswith("sqlite")
    if sqlite:
        path = os.path.join(tempfile.mkdtemp(prefix="bench-reminders-"), "bench.db")
        url, libpq_url, kept = f"sqlite:///{path}", "", False
    else:
        url, libpq_url, kept = create(DATABASE, keep=KEEP)
    os.environ |= {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "CONTACTS_API_ENV_FILE": "",
    }
    migrate(url)
    if sqlite:
        seed_sqlite(path)
    elif kept:
        reset(libpq_url)
    else:
        seed(libpq_url)
    contacts = USERS * CONTACTS_EACH
    print(f"seeded {USERS:,} users, {contacts:,} contacts in {time.monotonic() - started:.1f} s")
    first, again = asyncio.run(timed_runs())
    print(
        f"first run: {first['checked']:,} users checked, {first['sent']:,} messages,"
        f" {first['seconds']:.2f} s ({first['cpu']:.2f} s CPU here); again 5 minutes later:"
        f" {again['checked']} checked,"
        f" {again['seconds'] * 1000:.0f} ms"
    )
    if sqlite:
        with sqlite3.connect(path) as conn:
            waiting = outbox_rows(lambda sql: conn.execute(sql).fetchone())
    else:
        with psycopg.connect(libpq_url) as conn:
            waiting = outbox_rows(lambda sql: conn.execute(sql).fetchone())
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    summary = {
        "database": "sqlite" if sqlite else "postgresql",
        "users": USERS,
        "contacts": contacts,
        "first_run": first,
        "second_run": again,
        "outbox_rows": waiting,
    }
    name = "reminders-sqlite.json" if sqlite else "reminders.json"
    (results / name).write_text(json.dumps(summary, indent=2) + "\n")
    if sqlite:
        os.unlink(path)
        return
    if KEEP:
        return
    drop(DATABASE)


if __name__ == "__main__":
    main()
