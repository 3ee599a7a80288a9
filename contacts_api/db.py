"""The async database engine and the per-request session."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import HTTPException, Request, status
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import database_url, get_settings
from contacts_api.pool import FairPool


def compact_json(value: Any) -> str:
    # The lists of a contact as the API writes them: no spaces, any character as itself.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str) -> AsyncEngine:
    parsed = database_url(url, asynchronous=True)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            parsed, connect_args={"timeout": 15}, json_serializer=compact_json
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_immediately)
        return engine
    return create_async_engine(
        parsed,
        # No `pool_pre_ping`: its round trip before every request cost 2 % of GET one's req/s
        # (1,013 -> 1,030 in one run; the query floor 1,730 -> 1,930). A connection
        # that a database restart killed fails its first statement instead; SQLAlchemy then
        # discards every pooled connection made before the failure, and
        # `deps.first_statement` runs that statement once more on a new one, so that a
        # restart still costs no request a 503 (tests/test_database_faults.py).
        # A fixed pool, no overflow: an overflow connection is closed when it comes back, so
        # under steady load above the pool size nearly every request opened a new PostgreSQL
        # connection (759 in 2,000 requests at concurrency 16 with 10 + 10; 0 with 20 + 0).
        # A request that finds all 20 busy waits for one, without blocking the event loop,
        # and the waiting requests get theirs in the order they asked (contacts_api/pool.py).
        json_serializer=compact_json,
        poolclass=FairPool,
        pool_size=20,
        max_overflow=0,
        # Fail a request after 10 s without a connection instead of queueing forever.
        pool_timeout=10,
        connect_args={
            "connect_timeout": 5,
            # psycopg prepares a statement after five runs, and PostgreSQL may then pick a
            # generic plan that ignores the search text: a scan of every contact instead of
            # the trigram indexes. Plan with the real values every time.
            "options": "-c plan_cache_mode=force_custom_plan",
        },
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own BEGIN (deferred, before the first write) is replaced by the one of
    # `_begin_immediately`.
    dbapi_connection.isolation_level = None
    # SQLite ignores ON DELETE CASCADE unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # SQLite's own lower() folds ASCII only; search must find "Éva" with "éva" here too.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _begin_immediately(connection: Any) -> None:
    # SQLite locks no rows: FOR UPDATE and FOR SHARE are not even written. A transaction that
    # writes takes the database's one write lock at BEGIN instead of at its first write, so
    # that what it read stays true until it commits, as the row locks make it on PostgreSQL (a
    # label deleted between a contact's read of it and its write was a foreign-key 500).
    # Readers (autocommit) take no lock; writers wait their turn up to the 15 s timeout.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


engine = make_engine(get_settings().DATABASE_URL)
SessionFactory = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
# For requests that only read: the same pool, each statement its own transaction. The hot GETs
# take a connection of it straight, with no ORM session around it, whose construction (its
# events, identity map and transaction) cost 0.08 ms of CPU of GET one contact's 0.98.
read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
ReadSessionFactory = async_sessionmaker(read_engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: in a transaction, except for GET and HEAD.

    GET routes only read, and under READ COMMITTED each statement sees fresh data anyway; in
    autocommit their query needs no BEGIN before it and no ROLLBACK after it, two of the four
    round trips of a GET of one contact (about 0.4 ms of CPU of 2 to 3 here).
    """
    factory = ReadSessionFactory if request.method in ("GET", "HEAD") else SessionFactory
    async with factory() as session:
        yield session


@asynccontextmanager
async def unique_or_409(session: AsyncSession, detail: str) -> AsyncIterator[None]:
    """Run the block, which writes and commits: a broken UNIQUE constraint in it rolls the
    session back and answers 409 with `detail`. Committed inside the route, where this can
    still happen; any other IntegrityError is a bug and stays one."""
    try:
        yield
    except IntegrityError as exc:
        await session.rollback()
        if not is_unique_violation(exc):
            raise
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from None


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when `exc` is a broken UNIQUE constraint (and not, say, a foreign key)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)  # SQLite
