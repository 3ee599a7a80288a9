"""What sync costs: `python -m bench.sync` (PostgreSQL), also run by `make bench`.

Creates a fresh database on BENCH_DATABASE_URL (default: the local server), seeds one user
with a book of each size in BOOK_SIZES (bench/seed.py's fake books, loaded with COPY, which
the change log's triggers log like any other write), serves the app under uvicorn (one
worker, as bench/run.py serves it) and, over HTTP at concurrency 1:

- the first sync through the changes feed: every page of 1,000 from the start;
- ROUNDS times: 10 contacts changed through the API (PATCH), then one read of the feed with
  the last token: the incremental read, which must stay flat from 1,000 contacts to 100,000;
- the same read when nothing changed;
- GET of one contact, the API's cheapest read, in the same moments: what the machine allowed;
- CardDAV: a first sync-collection of the whole book, then ROUNDS times 10 changes, the
  PROPFIND of the book's getctag and sync-token that DAVx5 and iOS send first, and a
  sync-collection from the stored token.

Timings are wall-clock times of whole HTTP requests from this process, which shares the
machine's cores with the server and PostgreSQL. It prints the figures and writes them as JSON
to bench/results/sync.json.
"""

import json
import os
import random
import re
import statistics
import time
import uuid
from typing import Any

import psycopg

from bench.database import create, drop, migrate
from bench.load import REPOSITORY, served
from bench.seed import PASSWORD, load_books

BOOK_SIZES = tuple(int(n) for n in os.environ.get("BENCH_SYNC_SIZES", "1000,100000").split(","))
ROUNDS = int(os.environ.get("BENCH_SYNC_ROUNDS", "30"))
CHANGES = 10
DATABASE = "contacts_api_bench_sync"


def seed(libpq_url: str) -> dict[int, int]:
    """One user per book size, their contacts loaded with COPY; user id by size."""
    owners = load_books(libpq_url, BOOK_SIZES)
    analyze(libpq_url)
    return owners


def analyze(libpq_url: str) -> None:
    # Statistics for the planner, as autovacuum would gather them in a database in use.
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def log_in(base: str, email: str) -> str:
    import httpx2 as httpx

    response = httpx.post(
        f"{base}/api/auth/token", data={"username": email, "password": PASSWORD}, timeout=30
    )
    return str(response.raise_for_status().json()["access_token"])


def milliseconds(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def book_of(client: Any, size: int, libpq_url: str, owner: int) -> dict[str, Any]:
    """The figures of one book: its first sync, then the incremental reads."""
    rng = random.Random(size)
    with psycopg.connect(libpq_url) as conn:
        ids = [
            row[0] for row in conn.execute("SELECT id FROM contacts WHERE owner_id = %s", (owner,))
        ]
    started = time.perf_counter()
    first_page = None
    params: dict[str, Any] = {"limit": 1000}
    pages = 0
    while True:
        page_started = time.perf_counter()
        page = client.get("/api/contacts/changes", params=params).raise_for_status().json()
        first_page = first_page or milliseconds(page_started)
        pages += 1
        params = {"since": page["next"], "limit": 1000}
        if not page["more"]:
            break
    first_sync = milliseconds(started)
    # The numbers given in the first sync, in the statistics, as autovacuum would have them.
    analyze(libpq_url)
    token = page["next"]
    incremental, unchanged, reference = [], [], []
    for round_number in range(ROUNDS):
        for contact_id in rng.sample(ids, CHANGES):
            client.patch(
                f"/api/contacts/{contact_id}", json={"notes": f"round {round_number}"}
            ).raise_for_status()
        started = time.perf_counter()
        page = client.get("/api/contacts/changes", params={"since": token}).raise_for_status()
        incremental.append(milliseconds(started))
        answer = page.json()
        if len(answer["changed"]) != CHANGES or answer["more"]:
            raise RuntimeError(f"expected {CHANGES} changes in one page: {answer}")
        token = answer["next"]
        started = time.perf_counter()
        client.get("/api/contacts/changes", params={"since": token}).raise_for_status()
        unchanged.append(milliseconds(started))
        # The cheapest read of the API, timed in the same moment: what the machine allows.
        started = time.perf_counter()
        client.get(f"/api/contacts/{ids[0]}").raise_for_status()
        reference.append(milliseconds(started))
    return {
        "contacts": size,
        "first_sync_ms": first_sync,
        "first_sync_pages": pages,
        "first_page_ms": first_page,
        "incremental_p50_ms": statistics.median(incremental),
        "incremental_min_ms": min(incremental),
        "incremental_max_ms": max(incremental),
        "unchanged_p50_ms": statistics.median(unchanged),
        "unchanged_min_ms": min(unchanged),
        "get_one_contact_p50_ms": statistics.median(reference),
        "get_one_contact_min_ms": min(reference),
        "rounds": ROUNDS,
        "ids": ids,
    }


TOKEN = re.compile(r"<d:sync-token>([^<]+)</d:sync-token>")
SYNC = (
    '<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
BOOK_STATE = (
    '<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>'
    "<cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)


def collection(dav: Any, book: str, token: str) -> tuple[str, int]:
    """A sync-collection REPORT from `token`: the new token and how many members came."""
    answer = dav.request("REPORT", book, content=SYNC.format(token=token).encode())
    if answer.status_code != 207:
        raise RuntimeError(f"sync-collection: {answer.status_code} {answer.text[:200]}")
    found = TOKEN.search(answer.text)
    if found is None:
        raise RuntimeError("sync-collection without a token")
    return found[1], answer.text.count("<d:response>")


def dav_of(client: Any, dav: Any, owner: int, ids: list[int], size: int) -> dict[str, Any]:
    """CardDAV's round of DAVx5 and iOS: PROPFIND of the book's getctag and sync-token, then a
    sync-collection from the stored token; after a first sync-collection of the whole book."""
    rng = random.Random(-size)
    book = f"/dav/addressbooks/{owner}/contacts/"
    started = time.perf_counter()
    token, members = collection(dav, book, "")
    first_sync = milliseconds(started)
    if members != size:
        raise RuntimeError(f"a first sync-collection of {members} cards, not {size}")
    state, incremental = [], []
    for round_number in range(ROUNDS):
        for contact_id in rng.sample(ids, CHANGES):
            client.patch(
                f"/api/contacts/{contact_id}", json={"notes": f"dav round {round_number}"}
            ).raise_for_status()
        started = time.perf_counter()
        answer = dav.request("PROPFIND", book, headers={"Depth": "0"}, content=BOOK_STATE)
        state.append(milliseconds(started))
        answer.raise_for_status()
        started = time.perf_counter()
        token, members = collection(dav, book, token)
        incremental.append(milliseconds(started))
        if members != CHANGES:
            raise RuntimeError(f"{members} members after {CHANGES} changes")
    return {
        "dav_first_sync_collection_ms": first_sync,
        "dav_book_propfind_p50_ms": statistics.median(state),
        "dav_book_propfind_min_ms": min(state),
        "dav_incremental_p50_ms": statistics.median(incremental),
        "dav_incremental_min_ms": min(incremental),
        "dav_incremental_max_ms": max(incremental),
    }


def main() -> None:
    import httpx2 as httpx

    started = time.monotonic()
    url, libpq_url, _ = create(DATABASE)
    secret = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
    env = {"DATABASE_URL": url, "SECRET_KEY": secret, "CONTACTS_API_ENV_FILE": ""}
    os.environ |= env  # for contacts_api.security, imported by seed
    migrate(url)
    owners = seed(libpq_url)
    print(f"seeded {sum(BOOK_SIZES):,} contacts in {time.monotonic() - started:.1f} s", flush=True)
    results_dir = REPOSITORY / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    env |= {"LOGIN_ATTEMPTS_PER_MINUTE": "1000000", "TOKEN_REQUESTS_PER_MINUTE": "1000000"}
    rows = []
    with served("contacts_api.main:app", 1, env, results_dir / "sync-server.log") as base:
        for size in BOOK_SIZES:
            token = log_in(base, f"owner{size}@example.com")
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                row = book_of(client, size, libpq_url, owners[size])
                password = client.post(
                    "/api/users/me/app-passwords", json={"name": "bench"}
                ).raise_for_status()
                auth = (f"owner{size}@example.com", password.json()["password"])
                with httpx.Client(base_url=base, auth=auth, timeout=300) as dav:
                    row |= dav_of(client, dav, owners[size], row.pop("ids"), size)
                rows.append(row)
    print(
        f"\n{'changes feed, 1 worker, concurrency 1':<42}"
        + "".join(f"{s:>10,}" for s in BOOK_SIZES)
    )
    for name, key in (
        ("first sync, every page of 1,000 (ms)", "first_sync_ms"),
        ("  of which the first page (ms)", "first_page_ms"),
        (f"after {CHANGES} changes, p50 (ms)", "incremental_p50_ms"),
        (f"after {CHANGES} changes, fastest (ms)", "incremental_min_ms"),
        (f"after {CHANGES} changes, slowest (ms)", "incremental_max_ms"),
        ("nothing changed, p50 (ms)", "unchanged_p50_ms"),
        ("nothing changed, fastest (ms)", "unchanged_min_ms"),
        ("GET one contact beside them, p50 (ms)", "get_one_contact_p50_ms"),
        ("GET one contact beside them, fastest (ms)", "get_one_contact_min_ms"),
        ("CardDAV: first sync-collection (ms)", "dav_first_sync_collection_ms"),
        ("CardDAV: PROPFIND getctag, sync-token p50", "dav_book_propfind_p50_ms"),
        ("CardDAV: PROPFIND getctag, sync-token min", "dav_book_propfind_min_ms"),
        (f"CardDAV: sync-collection after {CHANGES}, p50", "dav_incremental_p50_ms"),
        (f"CardDAV: sync-collection after {CHANGES}, min", "dav_incremental_min_ms"),
        (f"CardDAV: sync-collection after {CHANGES}, max", "dav_incremental_max_ms"),
    ):
        print(f"{name:<42}" + "".join(f"{row[key]:>10.1f}" for row in rows))
    (results_dir / "sync.json").write_text(json.dumps({"books": rows}, indent=2) + "\n")
    drop(DATABASE)


if __name__ == "__main__":
    main()
