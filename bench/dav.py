"""CardDAV beside Radicale: `python -m bench.dav` (PostgreSQL), part of `make bench`.

Serves the app (uvicorn, one worker, the production settings bench/run.py uses) on a fresh
database on BENCH_DATABASE_URL, with one user whose book of BENCH_DAV_CARDS (10,000) cards
comes in through the import route; and Radicale (the most used Python CardDAV server, its
filesystem storage, no authentication) with the same cards, one file each, on the same
machine in the same run. Then, against each, one client on one keep-alive connection:

- first sync: PROPFIND Depth 1 of the book (getetag), then addressbook-multiget of every card
  in batches of 100 (address-data and getetag), as DAVx5 and Thunderbird do: the very first
  (each server's caches cold: Radicale's item cache, this service's kept cards), then the
  median of three more (what a second device, or the next full sync, gets);
- PUT of one card (If-Match, a changed NOTE): the median of 30;
- incremental sync-collection after 10 changes, where the server offers sync-collection.

It prints the rows and writes them as JSON to bench/results/dav.json.
"""

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.database import create, migrate
from bench.load import REPOSITORY, free_port, served

SECRET_KEY = "bench-dav-" + uuid.uuid4().hex + uuid.uuid4().hex
CARDS = int(os.environ.get("BENCH_DAV_CARDS", "10000"))
BATCH = 100
DATABASE = "contacts_api_bench_dav"
EMAIL = "bench@example.com"
PASSWORD = "benchmark password"
HREF = re.compile(r"<(?:[A-Za-z0-9]+:)?href>([^<]+)</(?:[A-Za-z0-9]+:)?href>")
ETAG = re.compile(r"<(?:[A-Za-z0-9]+:)?getetag>([^<]+)</(?:[A-Za-z0-9]+:)?getetag>")
TOKEN = re.compile(r"<(?:[A-Za-z0-9]+:)?sync-token>([^<]+)</(?:[A-Za-z0-9]+:)?sync-token>")
PROPFIND_ETAGS = b'<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
REPORTS = b'<d:propfind xmlns:d="DAV:"><d:prop><d:supported-report-set/></d:prop></d:propfind>'

FIRST = "Ann Ben Carla Dana Elena Felix Grace Hannah Ian Joanna Karl Laura Marek Nina Olga".split()
LAST = "Smith Jones Brown Garcia Müller Rossi Novak Kowalski Silva Chen Singh Dubois".split()


def check(holds: bool, problem: Any = "") -> None:
    """Stop the bench when a server answers wrongly: a fast wrong answer is no figure."""
    if not holds:
        raise RuntimeError(str(problem))


def fake_cards(count: int) -> str:
    """A vCard 3.0 file of `count` people as phones write them."""
    rng = random.Random(7)
    cards = []
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        cards.append(
            "BEGIN:VCARD\r\nVERSION:3.0\r\n"
            f"UID:bench-{n:06d}\r\nN:{last};{first};;;\r\nFN:{first} {last}\r\n"
            f"EMAIL;TYPE=HOME:{first.lower()}.{n}@example.com\r\n"
            f"TEL;TYPE=CELL:+1 555 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}\r\n"
            f"ORG:Company {n % 50}\r\n"
            f"BDAY:19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{n % 9}\r\n"
            f"NOTE:card {n}\r\nEND:VCARD\r\n"
        )
    return "".join(cards)


def seed_app(base: str, cards: str, libpq_url: str) -> tuple[int, str]:
    """Sign up, import the cards through REST, make an app password: (user id, password)."""
    with httpx.Client(base_url=base, timeout=300) as client:
        client.post("/api/auth/signup", json={"email": EMAIL, "password": PASSWORD})
        token = client.post("/api/auth/token", data={"username": EMAIL, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        imported = client.post(
            "/api/contacts/import", headers=headers, files={"file": ("book.vcf", cards)}
        )
        check(imported.json()["created"] == CARDS, imported.text[:500])
        made = client.post("/api/users/me/app-passwords", headers=headers, json={"name": "bench"})
        # Fresh statistics, as autovacuum would give the table a minute later.
        with psycopg.connect(libpq_url, autocommit=True) as connection:
            connection.execute("ANALYZE contacts")
        user_id = client.get("/api/users/me", headers=headers).json()["id"]
        return int(user_id), str(made.json()["password"])


@contextmanager
def radicale(folder: Path, cards: str, log: Path) -> Iterator[str]:
    """Radicale serving `cards` (one file each) as the book /bench/contacts/."""
    book = folder / "collection-root" / "bench" / "contacts"
    book.mkdir(parents=True)
    (book / ".Radicale.props").write_text(json.dumps({"tag": "VADDRESSBOOK"}))
    for n, card in enumerate(re.findall(r"BEGIN:VCARD.*?END:VCARD\r\n", cards, re.DOTALL)):
        (book / f"bench-{n:06d}.vcf").write_text(card, newline="")
    port = free_port()
    config = folder / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\n[rights]\ntype = owner_only\n"
        f"[storage]\nfilesystem_folder = {folder}\n[logging]\nlevel = warning\n"
    )
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=output, stderr=output,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/.web/", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Radicale did not start; see {log}") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def multiget(hrefs: list[str]) -> bytes:
    links = "".join(f"<d:href>{href}</d:href>" for href in hrefs)
    return (
        '<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
        f"<d:prop><d:getetag/><c:address-data/></d:prop>{links}</c:addressbook-multiget>"
    ).encode()


def first_sync(client: httpx.Client, book: str) -> tuple[float, dict[str, str]]:
    """Seconds for a first sync of the whole book, and the cards' ETags by href."""
    started = time.perf_counter()
    listing = client.request("PROPFIND", book, headers={"Depth": "1"}, content=PROPFIND_ETAGS)
    check(listing.status_code == 207, listing.text[:300])
    hrefs = [h for h in HREF.findall(listing.text) if h.rstrip("/") != book.rstrip("/")]
    etags: dict[str, str] = {}
    for start in range(0, len(hrefs), BATCH):
        answer = client.request("REPORT", book, content=multiget(hrefs[start : start + BATCH]))
        check(answer.status_code == 207, answer.text[:300])
        check(answer.text.count("END:VCARD") == len(hrefs[start : start + BATCH]))
        etags.update(zip(HREF.findall(answer.text), ETAG.findall(answer.text), strict=True))
    seconds = time.perf_counter() - started
    check(len(etags) == CARDS, len(etags))
    return seconds, etags


def card_of(client: httpx.Client, href: str) -> str:
    return client.get(href).text


def put_times(client: httpx.Client, href: str, count: int = 30) -> list[float]:
    """Milliseconds of `count` PUTs of one card, each changing its NOTE (If-Match)."""
    card = card_of(client, href)
    tag = client.get(href).headers["etag"]
    times = []
    for n in range(count):
        changed = re.sub(r"NOTE:[^\r\n]*", f"NOTE:changed {n}", card)
        started = time.perf_counter()
        answer = client.put(
            href, content=changed.encode(),
            headers={"If-Match": tag, "Content-Type": "text/vcard; charset=utf-8"},
        )  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
        check(answer.status_code in (201, 204), (answer.status_code, answer.text[:300]))
        tag = answer.headers.get("etag") or client.get(href).headers["etag"]
    return times


def sync_collection(token: str) -> bytes:
    return (
        '<d:sync-collection xmlns:d="DAV:"><d:sync-token>'
        f"{token}</d:sync-token><d:sync-level>1</d:sync-level>"
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    ).encode()


def incremental_times(client: httpx.Client, book: str, hrefs: list[str]) -> list[float] | None:
    """Milliseconds of a sync-collection after 10 changes (five times), or None when the
    server does not offer the report."""
    offered = client.request("PROPFIND", book, headers={"Depth": "0"}, content=REPORTS)
    if "sync-collection" not in offered.text:
        return None
    times = []
    for round_ in range(5):
        start = client.request("REPORT", book, content=sync_collection(""))
        token = TOKEN.findall(start.text)[-1]
        for href in hrefs[round_ * 10 : round_ * 10 + 10]:
            card = card_of(client, href)
            client.put(href, content=re.sub(r"NOTE:[^\r\n]*", f"NOTE:r{round_}", card).encode(),
                       headers={"Content-Type": "text/vcard; charset=utf-8"})  # fmt: skip
        started = time.perf_counter()
        answer = client.request("REPORT", book, content=sync_collection(token))
        times.append((time.perf_counter() - started) * 1000)
        check(answer.status_code == 207 and len(ETAG.findall(answer.text)) == 10, answer.text[:500])
    return times


def measure(base: str, book: str, auth: tuple[str, str]) -> dict[str, Any]:
    with httpx.Client(base_url=base, auth=auth, timeout=600) as client:
        cold = first_sync(client, book)[0]  # the first: nothing cached, on either side
        runs = [first_sync(client, book) for _ in range(3)]
        hrefs = sorted(runs[0][1])
        puts = put_times(client, hrefs[len(hrefs) // 2])
        incremental = incremental_times(client, book, hrefs[:50])
    seconds = [run[0] for run in runs]
    return {
        "first_sync_s": round(statistics.median(seconds), 3),
        "first_sync_runs_s": [round(s, 3) for s in seconds],
        "first_sync_cold_s": round(cold, 3),
        "cards_per_s": round(CARDS / statistics.median(seconds)),
        "put_ms_p50": round(statistics.median(puts), 2),
        "put_ms_p90": round(sorted(puts)[int(len(puts) * 0.9)], 2),
        "incremental_ms_p50": None
        if incremental is None
        else round(statistics.median(incremental), 2),
    }


def main() -> None:
    results_dir = REPOSITORY / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    log = results_dir / "dav-servers.log"
    log.unlink(missing_ok=True)
    cards = fake_cards(CARDS)
    url, libpq_url, _ = create(DATABASE)
    migrate(url)
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "LOGIN_ATTEMPTS_PER_MINUTE": "1000000000",
        "TOKEN_REQUESTS_PER_MINUTE": "1000000000",
    }
    with served("contacts_api.main:app", 1, env, log) as base:
        user_id, password = seed_app(base, cards, libpq_url)
        ours = measure(base, f"/dav/addressbooks/{user_id}/contacts/", (EMAIL, password))
    with tempfile.TemporaryDirectory() as folder, radicale(Path(folder), cards, log) as base:
        theirs = measure(base, "/bench/contacts/", ("bench", "any"))
    ratio = theirs["first_sync_s"] / ours["first_sync_s"]
    print(f"CardDAV, {CARDS:,} cards, one client, one connection (median):")
    print(f"{'':34}{'contacts_api':>14}{'Radicale':>14}")
    for key, label in [
        ("first_sync_s", "first sync (PROPFIND + multiget 100), s"),
        ("cards_per_s", "  cards a second"),
        ("first_sync_cold_s", "  the very first (cold caches), s"),
        ("put_ms_p50", "PUT one card, ms p50"),
        ("put_ms_p90", "PUT one card, ms p90"),
        ("incremental_ms_p50", "sync-collection after 10 changes, ms"),
    ]:
        print(f"{label:<40}{ours[key]!s:>10}{theirs[key]!s:>14}")
    print(f"first sync: {ratio:.1f}x Radicale's speed (goal: at least 5x)")
    report = {"cards": CARDS, "contacts_api": ours, "radicale": theirs, "speedup": round(ratio, 2)}
    (results_dir / "dav.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
