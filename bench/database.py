"""The benches' PostgreSQL databases: each bench makes one of its own name anew on the server of
BENCH_DATABASE_URL (default: the local server), migrates it with `alembic upgrade head`, and may
drop it when it is done, so that no run measures what a previous one left behind."""

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import psycopg
from sqlalchemy import URL, make_url

from bench.load import REPOSITORY


class Database(NamedTuple):
    url: str  # SQLAlchemy's form, for DATABASE_URL
    libpq_url: str  # psycopg's, for the seeding
    kept: bool  # found and kept, seeded already by an earlier run (else made anew)


def server_url() -> URL:
    """BENCH_DATABASE_URL: the server the benches make their databases on."""
    return make_url(
        os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )


def admin_url() -> str:
    # The maintenance database: a database cannot be dropped or made from within itself.
    return (
        server_url()
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


def create(name: str, *, keep: bool = False) -> Database:
    """The database `name`, dropped and made anew; with `keep`, one that exists stays as it is."""
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        kept = keep and found is not None
        if not kept:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    url = server_url().set(drivername="postgresql+psycopg", database=name)
    return Database(
        url.render_as_string(hide_password=False),
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        kept,
    )


def migrate(url: str, tree: Path | None = None) -> None:
    """`alembic upgrade head` on the database of `url` (PostgreSQL or SQLite), with this
    repository's migrations or those of another checkout `tree`, its code first on the path."""
    env = os.environ | {"DATABASE_URL": url}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env=env, cwd=tree or REPOSITORY, check=True, capture_output=True,
    )  # fmt: skip


def drop(name: str) -> None:
    """The database `name` gone, whoever is still connected to it."""
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
