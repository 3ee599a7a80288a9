"""A connection pool that serves the requests waiting for a connection in the order they came.

SQLAlchemy's async pool keeps its idle connections in an `asyncio.Queue`, which is not fair
under load: a request that arrives just as a connection comes back takes it at once, ahead of
the requests already waiting, and the waiter that was woken for it finds the queue empty and
goes to the back of the line. With 64 clients on 20 connections, most requests passed quickly
and a few waited seconds (selective search: p50 78 ms, p99 1.7 s; docs/performance.md).

Here the waiting requests line up on a lock, which asyncio hands over in the order they asked
for it: only the one at the head of the line waits on the queue itself, and nobody takes a
connection from the queue while anybody is waiting.
"""

import asyncio
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairQueue(AsyncAdaptedQueue[Any]):
    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self.waiting = 0
        self.line = asyncio.Lock()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        # Called by the pool in SQLAlchemy's greenlet: `await_` runs a coroutine from there.
        if self.waiting == 0 and not self.empty():
            return self._queue.get_nowait()
        if not block:
            raise Empty()
        return await_(self._get_in_turn(timeout))

    async def _get_in_turn(self, seconds: float | None) -> Any:
        self.waiting += 1
        try:
            async with asyncio.timeout(seconds), self.line:
                return await self._queue.get()
        except TimeoutError:
            raise Empty() from None  # the pool turns this into its own TimeoutError
        finally:
            self.waiting -= 1


class FairPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async pool, with the queue above."""

    _queue_class = FairQueue
