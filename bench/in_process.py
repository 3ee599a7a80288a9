"""CPU time a request, in process: `python -m bench.in_process` after `make bench`.

Drives the app's ASGI interface directly (httpx's ASGITransport: no sockets, wrk or uvicorn),
16 requests at a time, against the database that `make bench` left (contacts_api_bench), and
prints the CPU time per request of this process (the app) and of PostgreSQL's backends that
serve it (from /proc: the server must run on this machine), each the minimum of ROUNDS rounds.
On a machine that other work shares, CPU time moves far less than req/s and latency do.

It speaks only HTTP to the app, so the same file measures another commit of the app too (run
it from that commit's checkout after that commit's `make bench`).
"""

import asyncio
import gc
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault(
    "DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/contacts_api_bench"
)
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
for limit in ("LOGIN_ATTEMPTS_PER_MINUTE", "TOKEN_REQUESTS_PER_MINUTE"):
    os.environ.setdefault(limit, "1000000000")

PASSWORD = "benchmark password"  # bench/seed.py's
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
CONCURRENCY = 16


TICKS = os.sysconf("SC_CLK_TCK")


def database_cpu() -> float:
    """The CPU seconds that PostgreSQL's backends of the bench database have used so far: the
    app's pooled connections (read from /proc, so only with the server on this machine)."""
    import psycopg
    from sqlalchemy import make_url

    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    used = 0.0
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile, or on another machine
            continue
        used += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return used


async def timed(requests: int, send: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """This process's and the database's CPU seconds for `requests` calls of `send`,
    CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await send()

    database = database_cpu()
    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    app = time.process_time() - started
    return app, database_cpu() - database


async def main() -> None:
    import httpx2 as httpx

    from contacts_api.main import app

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def token_of(email: str) -> dict[str, str]:
                form = {"username": email, "password": PASSWORD}
                answer = await client.post("/api/auth/token", data=form)
                answer.raise_for_status()
                return {"Authorization": f"Bearer {answer.json()['access_token']}"}

            middle = await token_of("owner1000@example.com")
            large = await token_of("owner100000@example.com")
            first = (await client.get("/api/contacts?limit=1", headers=middle)).json()
            cases = [
                ("GET one contact", f"/api/contacts/{first['items'][0]['id']}", middle, 800),
                ("list 20", "/api/contacts?limit=20", middle, 400),
                ("search selective (100k)", "/api/contacts?q=quixote", large, 200),
                ("search phone digits (100k)", "/api/contacts?q=8675309", large, 200),
                ("birthdays days=7 (100k)", "/api/contacts/birthdays?days=7", large, 24),
            ]
            print(
                f"{'CPU ms a request':<30} {'app':>8} {'database':>9} {'contacts':>9}"
                f" {'us a contact':>13}"
            )
            for name, path, headers, requests in cases:
                answer = await client.get(path, headers=headers)
                answer.raise_for_status()
                body = answer.json()
                # A list (birthdays) is every contact the answer holds; a page holds 20 at most.
                contacts = len(body) if isinstance(body, list) else len(body.get("items", [body]))

                async def send(path: str = path, headers: dict[str, str] = headers) -> None:
                    (await client.get(path, headers=headers)).raise_for_status()

                await timed(requests // 4, send)  # warm up
                gc.collect()
                rounds = [await timed(requests, send) for _ in range(ROUNDS)]
                # The minimum of each: the round that other work on the machine disturbed least.
                in_app = min(used for used, _ in rounds) / requests
                database = min(used for _, used in rounds) / requests
                both = (in_app + database) * 1e6 / max(contacts, 1)
                print(
                    f"{name:<30} {in_app * 1000:>8.3f} {database * 1000:>9.3f} {contacts:>9,}"
                    f" {both:>13.1f}"
                )


if __name__ == "__main__":
    asyncio.run(main())
