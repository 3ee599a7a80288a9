"""`make bench`: the API's throughput and latency, next to the floor, on PostgreSQL.

On its own this script creates a fresh database on BENCH_DATABASE_URL (default: the local
server), seeds users with 20, 1,000 and 100,000 contacts, serves the app under uvicorn with the
production settings the README recommends (BCRYPT_ROUNDS=12, access log on) and, beside it, the
floor (bench/floor.py), then drives each endpoint with wrk (or, without wrk, a Python async
client) at concurrency 1, 16 and 64, for 1 and 2 workers. Two reference servers run beside the
app in each block: the JWT floor (bench/floor.py, a token check and nothing else) and the query
floor (bench/query_floor.py, the token check plus GET one contact's query as a SQLAlchemy Core
statement). It prints one table and writes the same figures as JSON to bench/results/.

Rate limits are raised for the run: the benchmark is one client address sending thousands of
requests a minute, which is exactly what they are there to stop.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.database import create, migrate
from bench.load import DURATION, REPOSITORY, Result, Spec, measure, served
from bench.report import QUERY_FLOOR, report, row
from bench.seed import (
    BOOK_SIZES,
    COMMON_WORD,
    DATABASE,
    PASSWORD,
    SELECTIVE_DIGITS,
    SELECTIVE_WORD,
    access_token,
    first_contact_of,
    refresh_tokens,
    seed,
)

SECRET_KEY = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
CONCURRENCY = (1, 16, 64)
# `BENCH_WORKERS=1` runs the 1-worker block only.
WORKERS = tuple(int(w) for w in os.environ.get("BENCH_WORKERS", "1,2").split(","))
# `BENCH_ONLY="GET one,list 20,birthdays"`: only the endpoints whose names hold one of these
# (case aside); the floors always run, since every ratio needs them.
ONLY = [word.strip().lower() for word in os.environ.get("BENCH_ONLY", "").split(",")]
ONLY = [word for word in ONLY if word]


def chosen(name: str) -> bool:
    return not ONLY or any(word in name.lower() for word in ONLY)


os.environ["SECRET_KEY"] = SECRET_KEY  # for contacts_api.security, imported below
os.environ.setdefault("BCRYPT_ROUNDS", "12")


def log_in(base: str, email: str) -> str:
    import httpx2 as httpx

    response = httpx.post(
        f"{base}/api/auth/token", data={"username": email, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def first_contact_id(base: str, token: str) -> int:
    import httpx2 as httpx

    page = httpx.get(
        f"{base}/api/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    return int(page["items"][0]["id"])


def endpoint_specs(base: str, tokens_file: str) -> list[Spec]:
    token = log_in(base, "owner1000@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    big = {"Authorization": f"Bearer {log_in(base, 'owner100000@example.com')}"}
    contact_id = first_contact_id(base, token)
    json_body = {"Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    new_contact = json.dumps(
        {"first_name": "Bench", "last_name": "Mark", "email": "%s@bench.example.com",
         "phone": "+1 555 010 0199", "birthday": "1990-06-15"}
    )  # fmt: skip
    return [
        Spec("GET one contact", "GET", f"/api/contacts/{contact_id}", auth),
        Spec("list 20", "GET", "/api/contacts?limit=20", auth),
        Spec("search selective (100k)", "GET", f"/api/contacts?q={SELECTIVE_WORD}", big),
        Spec("search common (100k)", "GET", f"/api/contacts?q={COMMON_WORD}", big),
        Spec("search phone digits (100k)", "GET", f"/api/contacts?q={SELECTIVE_DIGITS}", big),
        Spec("birthdays days=7 (100k)", "GET", "/api/contacts/birthdays?days=7", big),
        Spec("create", "POST", "/api/contacts", auth | json_body, new_contact, unique=True),
        Spec("PATCH", "PATCH", f"/api/contacts/{contact_id}", auth | json_body,
             '{"notes": "patched by the benchmark"}'),
        Spec("refresh grant", "POST", "/api/auth/token", form, tokens_file=tokens_file),
        # Last: logins still queued for bcrypt when a cell ends would slow the next cell.
        Spec("password grant", "POST", "/api/auth/token", form,
             f"username=owner20%40example.com&password={PASSWORD.replace(' ', '+')}",
             warm_up=False),
    ]  # fmt: skip


def hash_seconds() -> float:
    """The time of one bcrypt hash at BCRYPT_ROUNDS, the best of three."""
    from contacts_api.security import hash_password

    times = []
    for _ in range(3):
        started = time.perf_counter()
        hash_password(PASSWORD)
        times.append(time.perf_counter() - started)
    return min(times)


DURING_LOGINS = "GET one contact, 32 logins running"


def during_logins(base: str, specs: list[Spec]) -> Result:
    """GET one contact, one request at a time, while 32 clients log in: does bcrypt, which runs
    in threads, leave the event loop free for other requests?"""
    get_one = next(spec for spec in specs if spec.name == "GET one contact")
    logins = next(spec for spec in specs if spec.name == "password grant")
    background = threading.Thread(target=measure, args=(base, logins, 32, DURATION + 2))
    background.start()
    time.sleep(1)  # the logins queue up first
    result = measure(base, replace(get_one, name=DURING_LOGINS), 1)
    background.join()
    time.sleep(32 * 0.3 / (os.cpu_count() or 1))  # the queue drains
    return result


def growth(base: str, owners: dict[int, int]) -> list[dict[str, Any]]:
    """p50 at concurrency 1 of search and birthdays for each book size."""
    import httpx2 as httpx

    rows = []
    for size in BOOK_SIZES:
        auth = {"Authorization": f"Bearer {log_in(base, f'owner{size}@example.com')}"}
        for name, path in (
            ("search selective", f"/api/contacts?q={SELECTIVE_WORD}"),
            ("search common", f"/api/contacts?q={COMMON_WORD}"),
            ("search phone digits", f"/api/contacts?q={SELECTIVE_DIGITS}"),
            ("birthdays days=7", "/api/contacts/birthdays?days=7"),
        ):
            if not chosen(name):
                continue
            result = measure(base, Spec(name, "GET", path, auth), 1, 2)
            # How many contacts the answer holds: the page's total, or the birthdays listed.
            answer = httpx.get(f"{base}{path}", headers=auth, timeout=30).json()
            answered = answer["total"] if isinstance(answer, dict) else len(answer)
            rows.append(
                {"endpoint": name, "contacts": size, "p50_ms": result.p50_ms, "answered": answered}
            )
    return rows


def main() -> None:
    started = time.monotonic()
    url, libpq_url, _ = create(DATABASE)
    migrate(url)
    owners = seed(libpq_url)
    print(f"seeded {sum(BOOK_SIZES):,} contacts in {time.monotonic() - started:.1f} s", flush=True)
    tokens = refresh_tokens(libpq_url, owners[0], 60_000)
    tokens_file = Path(tempfile.mkdtemp()) / "refresh.tokens"

    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "BCRYPT_ROUNDS": os.environ["BCRYPT_ROUNDS"],
        "LOGIN_ATTEMPTS_PER_MINUTE": "1000000000",
        "TOKEN_REQUESTS_PER_MINUTE": "1000000000",
        "SIGNUPS_PER_HOUR": "1000000000",
    }
    results_dir = REPOSITORY / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    log = results_dir / "servers.log"
    log.unlink(missing_ok=True)
    results: list[Result] = []
    growth_rows: list[dict[str, Any]] = []
    token_lines = iter(tokens)
    one_hash = hash_seconds()
    query_floor_path = f"/query-floor/{first_contact_of(libpq_url, owners[1_000])}"
    query_floor_auth = {"Authorization": f"Bearer {access_token(libpq_url, owners[1_000])}"}
    for workers in WORKERS:
        floor: dict[int, float] = {}
        query_floor: dict[int, float] = {}
        with served("bench.floor:app", workers, env, log) as base:
            floor_spec = Spec("floor", "GET", "/floor", {"Authorization": f"Bearer {tokens[0]}"})
            for concurrency in CONCURRENCY:
                result = measure(base, floor_spec, concurrency)
                result.workers = workers
                floor[concurrency] = result.requests_per_second
                results.append(result)
                print(row(result), flush=True)
        with served("bench.query_floor:app", workers, env, log) as base:
            spec = Spec(QUERY_FLOOR, "GET", query_floor_path, query_floor_auth)
            for concurrency in CONCURRENCY:
                result = measure(base, spec, concurrency)
                result.workers = workers
                result.ratio_to_floor = result.requests_per_second / floor[concurrency]
                query_floor[concurrency] = result.requests_per_second
                results.append(result)
                print(row(result), flush=True)
        print(f"\n{'endpoint':<34} {'w':>2} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>6} {'/floor':>6} {'/query':>6}", flush=True)  # fmt: skip
        with served("contacts_api.main:app", workers, env, log) as base:
            if workers == 1:
                growth_rows = growth(base, owners)
            for spec in endpoint_specs(base, str(tokens_file)):
                if not chosen(spec.name):
                    continue
                for concurrency in CONCURRENCY:
                    if spec.tokens_file:
                        # Each refresh token works once: hand every cell fresh ones.
                        with open(spec.tokens_file, "w") as fresh:
                            fresh.write("\n".join(next(token_lines) for _ in range(6000)))
                    result = measure(base, spec, concurrency)
                    result.workers = workers
                    result.ratio_to_floor = result.requests_per_second / floor[concurrency]
                    result.ratio_to_query_floor = (
                        result.requests_per_second / query_floor[concurrency]
                    )
                    results.append(result)
                    print(row(result), flush=True)
                    if spec.name == "password grant":
                        time.sleep(concurrency * 0.3 / (os.cpu_count() or 1))  # the queue drains
            if workers == 1:
                specs = endpoint_specs(base, str(tokens_file))
                for spec in specs[:2]:  # GET one contact and list 20, far past the pool size
                    if not chosen(spec.name):
                        continue
                    result = measure(base, spec, 256)
                    result.workers = 1
                    results.append(result)
                    print(row(result), flush=True)
                if chosen(DURING_LOGINS):
                    result = during_logins(base, specs)
                    result.workers = 1
                    results.append(result)
                    print(row(result), flush=True)
    shutil.rmtree(tokens_file.parent)
    report(results, growth_rows, one_hash, time.monotonic() - started)


if __name__ == "__main__":
    main()
