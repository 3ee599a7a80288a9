"""How many messages a minute one process's outbox workers deliver to a local SMTP server:
`python -m bench.delivery`.

A fresh database (BENCH_DATABASE_URL: the local PostgreSQL by default, or `sqlite:///path`),
BENCH_MESSAGES messages written to the outbox as the routes write them (`enqueue`, 100 to a
transaction), then one `OutboxWorkers` (its WORKERS tasks, as in one server process) started
and timed until the sink (bench/mail_sink.py) has every message and the table is empty. The
workers' log goes to bench/results/delivery.log; the figures to bench/results/delivery.json.

    BENCH_MESSAGES=3000 .venv/bin/python -m bench.delivery
    BENCH_DATABASE_URL=sqlite:////tmp/delivery.db .venv/bin/python -m bench.delivery
"""

import asyncio
import json
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import make_url

from bench.database import create, migrate, server_url
from bench.mail_sink import MailSink

REPOSITORY = Path(__file__).resolve().parent.parent
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "3000"))
DATABASE = "contacts_api_bench_delivery"


def fresh_database() -> str:
    """The URL of an empty database, PostgreSQL's dropped and made anew."""
    wanted = server_url()
    if wanted.get_backend_name() == "sqlite":
        path = wanted.database or os.path.join(tempfile.mkdtemp(), "delivery.db")
        Path(path).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return create(DATABASE).url


async def write_messages() -> None:
    from contacts_api.db import SessionFactory
    from contacts_api.mail import verification_mail
    from contacts_api.outbox import enqueue

    for first in range(0, MESSAGES, 100):
        async with SessionFactory() as session:
            for number in range(first, min(first + 100, MESSAGES)):
                link = f"http://127.0.0.1:8000/verify-email?token=bench-{number}"
                enqueue(session, verification_mail(f"user{number}@example.com", link))
            await session.commit()


async def deliver(sink: MailSink) -> float:
    """Seconds from the workers' start until the last message is in and its row gone."""
    from sqlalchemy import func, select

    from contacts_api.db import engine
    from contacts_api.outbox import OUTBOX, workers

    started = time.perf_counter()
    workers.start()
    while True:
        if sink.received >= MESSAGES:
            async with engine.connect() as connection:
                left = (await connection.execute(select(func.count()).select_from(OUTBOX))).scalar()
            if left == 0:
                break
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - started
    await workers.stop()
    await engine.dispose()
    return seconds


async def run(sink: MailSink) -> float:
    await write_messages()
    return await deliver(sink)


def main() -> None:
    url = fresh_database()
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    with MailSink() as sink:
        os.environ |= {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
            "CONTACTS_API_ENV_FILE": "",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "none",
        }
        migrate(url)
        # As a server logs: a line a message, here to a file.
        handler = logging.FileHandler(results / "delivery.log", mode="w")
        logging.getLogger("contacts_api").addHandler(handler)
        logging.getLogger("contacts_api").setLevel(logging.INFO)
        seconds = asyncio.run(run(sink))
    backend = make_url(url).get_backend_name()
    per_minute = MESSAGES / seconds * 60
    print(
        f"{backend}: {MESSAGES:,} messages delivered in {seconds:.2f} s by one process "
        f"({per_minute:,.0f} a minute)"
    )
    figures = {"backend": backend, "messages": MESSAGES, "seconds": seconds}
    (results / f"delivery-{backend}.json").write_text(
        json.dumps(figures | {"per_minute": per_minute})
    )


if __name__ == "__main__":
    main()
