"""The connection pool hands connections to waiting requests in the order they asked."""

import asyncio
import os
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from contacts_api.config import database_url
from contacts_api.pool import FairPool


def who_gets_the_connection(poolclass: Any) -> list[str]:
    """One connection, one request waiting for it, and a newcomer that asks for it just as it
    comes back, before the waiter has run again: which gets it first?"""

    async def scenario() -> list[str]:
        engine = create_async_engine(
            database_url(os.environ["DATABASE_URL"], asynchronous=True),
            poolclass=poolclass,
            pool_size=1,
            max_overflow=0,
            pool_timeout=5,
            isolation_level="AUTOCOMMIT",
        )
        order: list[str] = []

        async def ask(name: str) -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                order.append(name)

        try:
            holder = await engine.connect()
            await holder.execute(text("SELECT 1"))
            waiter = asyncio.create_task(ask("the request that waited"))
            await asyncio.sleep(0.2)  # it is waiting for the pool now
            await holder.close()  # back to the pool; the waiter is woken, but has not run yet
            await ask("the newcomer")
            await waiter
        finally:
            await engine.dispose()
        return order

    return asyncio.run(scenario())


def test_a_request_that_waited_for_a_connection_gets_it_before_a_newcomer() -> None:
    assert who_gets_the_connection(FairPool) == ["the request that waited", "the newcomer"]


def test_sqlalchemys_own_async_pool_lets_a_newcomer_go_first() -> None:
    # Why FairPool exists: when this fails, SQLAlchemy's pool has become fair, and FairPool can go.
    assert who_gets_the_connection(AsyncAdaptedQueuePool) == [
        "the newcomer",
        "the request that waited",
    ]
