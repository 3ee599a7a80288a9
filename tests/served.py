"""The app served by uvicorn in a child process, for tests that need a real server."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx2 as httpx

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


@contextmanager
def served_app(
    env: dict[str, str],
    *uvicorn_args: str,
    output: list[str] | None = None,
    cwd: str = REPOSITORY,
    port: int | None = None,
) -> Iterator[httpx.Client]:
    """Serve the app with `env` on a free port; yield a client for it; stop it after.

    The server runs in `cwd` (where it would find a `.env`), the repository by default. Its log
    lines are added to `output` when it has stopped.
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
