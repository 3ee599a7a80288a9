"""The app served by uvicorn in a child process, for tests that need a real server."""

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx2 as httpx
from sqlalchemy import create_engine, make_url, text

from tests.pgcluster import free_port

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env=os.environ | {"DATABASE_URL": database_url},
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
        timeout=120,
    )


_databases = itertools.count(1)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own, of the run's kind (PostgreSQL or SQLite), migrated to head and
    dropped after: for servers whose background work (the outbox, the jobs) must meet no other
    process's, the in-process app's included."""
    url = make_url(os.environ["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="contacts-api-") as directory:
            fresh = f"sqlite:///{os.path.join(directory, 'fresh.db')}"
            migrate(fresh)
            yield fresh
        return
    name = f"{url.database}_fresh_{next(_databases)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    fresh = url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(fresh)
        yield fresh
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def served_app(
    env: dict[str, str],
    *uvicorn_args: str,
    output: list[str] | None = None,
    cwd: str = REPOSITORY,
    port: int | None = None,
    processes: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[httpx.Client]:
    """Serve the app with `env` on a free port; yield a client for it; stop it after.

    The server runs in `cwd` (where it would find a `.env`), the repository by default. Its log
    lines are added to `output` when it has stopped. Its process is added to `processes`, for
    a test that kills it (`kill(process)`).
    """
    port = port or free_port()
    # A file, not a pipe: a pipe nobody reads fills up and then blocks the server's logging.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "contacts_api.main:app", "--port", str(port),
             *(uvicorn_args or ["--no-access-log"])],
            env=os.environ | {"PYTHONPATH": REPOSITORY} | env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        if processes is not None:
            processes.append(process)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_until_serving(client, process, log)
                yield client
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_text = read(log)
    if output is not None:
        output.extend(log_text.splitlines())
    # A traceback in the server's log means a request failed inside the app.
    assert "Traceback" not in log_text, log_text


def wait_until_serving(
    client: httpx.Client, process: subprocess.Popen[bytes], log: IO[str]
) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/health")
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{read(log)}") from None
            time.sleep(0.1)


def read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: the server stops at once, with no shutdown of its own (a crash, `kill -9`)."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=15)
