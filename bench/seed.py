"""The bench's database (DATABASE, made by bench/database.py): books of 20, 1,000 and 100,000
contacts shaped like real ones, loaded with COPY, and the sessions and tokens the load needs."""

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

DATABASE = "contacts_api_bench"
PASSWORD = "benchmark password"
BOOK_SIZES = (20, 1_000, 100_000)
SELECTIVE_WORD = "quixote"  # a last name only five contacts of each book have
COMMON_WORD = "ann"  # in thousands of the largest book's names
SELECTIVE_PHONE = "+1 555 867 5309"  # a number only five contacts of each book have
SELECTIVE_DIGITS = "8675309"

FIRST_NAMES = (
    "Ann Anna Andrew Ben Carla Carlos Dana Daniel Elena Emil Fatima Felix Grace Hannah Ian "
    "Ines Jan Joanna Karl Kim Laura Leo Maria Marek Nina Noah Olga Omar Paula Peter Rosa Ruth "
    "Sam Sara Tom Tanya Uma Victor Wanda Yusuf Zoe Joanne Dianne Marianne Leanne Hans Ivan"
).split()
LAST_NAMES = (
    "Smith Jones Brown Garcia Müller Rossi Novak Kowalski Silva Kim Chen Singh Haddad Dubois "
    "Jensen Nielsen Costa Ivanova Popescu Horvath Berg Fischer Moreau Romano Santos Tanaka "
    "Nakamura Okafor Mensah Walker Young King Wright Lopez Hill Green Adams Baker Nelson "
    "Carter"
).split()
NOTES = (None, None, None, "met at a conference", "neighbour", "call after 6pm\nnot on Sundays")
COMPANIES = (
    "Acme Ltd", "Globex", "Initech", "Umbrella Health", "Stark Industries", "Wayne Foods",
    "Pizza Roma", "City Dental", "Northwind Traders", "Contoso Bank",
)  # fmt: skip
JOB_TITLES = ("Engineer", "Accountant", "Owner", "Nurse", "Sales Manager", "Teacher")
CITIES = ("London", "Kyiv", "Lyon", "Berlin", "Austin", "Osaka")


def fake_contacts(owner_id: int, count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Contacts shaped like a real book: most with a person's name, some only a company;
    none, one or two emails and phones; some addresses and websites; every one with a
    birthday (a fifth without its year), so that a week holds about 2 % of the book."""
    now = datetime.now(UTC)

    def phone() -> dict[str, Any]:
        number = f"+1 555 {rng.randrange(1000):03d} {rng.randrange(10000):04d}"
        return {"number": number, "label": rng.choice(("mobile", "home", "work", None))}

    for number in range(count):
        first: str | None = rng.choice(FIRST_NAMES)
        last: str | None = rng.choice(LAST_NAMES)
        if number < 5:
            last = SELECTIVE_WORD.title()
        company = job_title = None
        if number >= 5 and rng.random() < 0.08:
            first = last = None  # a business
            company = rng.choice(COMPANIES)
        elif rng.random() < 0.3:
            company, job_title = rng.choice(COMPANIES), rng.choice(JOB_TITLES)
        person = f"{first or company}.{last or 'co'}.{number}".lower().replace(" ", "")
        emails = [
            {"address": f"{person}@example.com", "label": None},
            {"address": f"{person}@work.example.org", "label": "work"},
        ][: rng.choices((0, 1, 2), (15, 70, 15))[0]]
        phones = [phone() for _ in range(rng.choices((1, 2), (80, 20))[0])]
        if number < 5:
            phones[0]["number"] = SELECTIVE_PHONE
        addresses = [
            {"label": "home", "po_box": None, "extended": None,
             "street": f"{rng.randrange(1, 200)} Main Street", "city": rng.choice(CITIES),
             "region": None, "postal_code": f"{rng.randrange(10000, 99999)}", "country": None}
        ] if rng.random() < 0.3 else []  # fmt: skip
        websites = [{"url": f"https://{person}.example.net", "label": None}] * (rng.random() < 0.1)
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        birthday = born.isoformat() if rng.random() < 0.8 else born.strftime("--%m-%d")
        yield (
            owner_id,
            first,
            last,
            company,
            job_title,
            json.dumps(emails),
            json.dumps(phones),
            json.dumps(addresses),
            json.dumps(websites),
            birthday,
            rng.choice(NOTES),
            now,
            now,
        )


def load_books(libpq_url: str, sizes: tuple[int, ...]) -> dict[int, int]:
    """One user per book size, their contacts loaded with COPY; user id by size."""
    from contacts_api.security import hash_password

    password_hash = hash_password(PASSWORD)
    rng = random.Random(2026)
    owners = {}
    with psycopg.connect(libpq_url) as conn:
        for size in sizes:
            owners[size] = conn.execute(
                "INSERT INTO users (email, password_hash, created_at) VALUES (%s, %s, now())"
                " RETURNING id",
                (f"owner{size}@example.com", password_hash),
            ).fetchone()[0]  # type: ignore[index]
            with conn.cursor().copy(
                "COPY contacts (owner_id, first_name, last_name, company, job_title, emails,"
                " phones, addresses, websites, birthday, notes, created_at, updated_at)"
                " FROM STDIN"
            ) as copy:
                for row in fake_contacts(owners[size], size, rng):
                    copy.write_row(row)
    return owners


def seed(libpq_url: str) -> dict[int, int]:
    """Users with books of each size, loaded with COPY; returns user id by book size.

    Book size 0 is a user without contacts, whose many sessions feed the refresh grant.
    """
    owners = load_books(libpq_url, (0, *BOOK_SIZES))
    # Statistics for the planner, as autovacuum would gather them in a database in steady use.
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return owners


def refresh_tokens(libpq_url: str, user_id: int, count: int) -> list[str]:
    """`count` open sessions of `user_id`, each with the refresh token a login would give."""
    from contacts_api.security import create_token, new_token_id

    expires_at = datetime.now(UTC) + timedelta(days=7)
    sessions = [(new_token_id(), new_token_id()) for _ in range(count)]
    with (
        psycopg.connect(libpq_url) as conn,
        conn.cursor().copy(
            "COPY auth_sessions (id, user_id, refresh_token_id, created_at, expires_at) FROM STDIN"
        ) as copy,
    ):
        for session_id, token_id in sessions:
            copy.write_row((session_id, user_id, token_id, datetime.now(UTC), expires_at))
    return [
        create_token("refresh", user_id, session_id, token_id, expires_at)
        for session_id, token_id in sessions
    ]


def access_token(libpq_url: str, user_id: int) -> str:
    """An access token of a fresh session of `user_id`, for the query floor (which cannot log
    in: it has no routes but its own)."""
    from contacts_api.security import create_token, new_token_id

    session_id = new_token_id()
    expires_at = datetime.now(UTC) + timedelta(days=1)
    with psycopg.connect(libpq_url) as conn:
        conn.execute(
            "INSERT INTO auth_sessions (id, user_id, refresh_token_id, created_at, expires_at)"
            " VALUES (%s, %s, %s, now(), %s)",
            (session_id, user_id, new_token_id(), expires_at),
        )
    return create_token("access", user_id, session_id, new_token_id(), expires_at)


def first_contact_of(libpq_url: str, user_id: int) -> int:
    """The contact GET one contact reads: the first of the owner's list."""
    with psycopg.connect(libpq_url) as conn:
        row = conn.execute(
            "SELECT id FROM contacts WHERE owner_id = %s AND deleted_at IS NULL"
            " ORDER BY sort_name, first_name NULLS FIRST, id LIMIT 1",
            (user_id,),
        ).fetchone()
    return int(row[0])  # type: ignore[index]
