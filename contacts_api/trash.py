"""The trash empties itself: contacts deleted more than TRASH_RETENTION_DAYS ago are purged by
a task of the app's own, on its own schedule, not by a request.

Each run deletes at most `batch` contacts in one short transaction (oldest first, through the
partial index on `deleted_at`), so a backlog never holds locks or a connection for long; when a
run finds a full batch, the next one follows shortly. A database that is down makes a run fail
within its timeout; the failure is logged and the next run tries again. No FastAPI here.

The same runs prune the change log's tombstones (contacts that left the book more than
TOMBSTONE_DAYS ago; contacts_api/changes.py): sync tokens older than what they prune are
refused from then on, so the log does not grow with every contact ever deleted.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, delete, select

from contacts_api.changes import TOMBSTONE_DAYS, prune_tombstones
from contacts_api.config import get_settings
from contacts_api.db import SessionFactory, engine
from contacts_api.models import Contact, utc_now

logger = logging.getLogger(__name__)


class TrashPurger:
    """A background task that purges expired contacts from every user's trash."""

    def __init__(
        self,
        *,
        interval: float = 3600.0,
        backlog_interval: float = 1.0,
        batch: int = 1000,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.interval = interval
        self.backlog_interval = backlog_interval
        self.batch = batch
        self.timeout = timeout
        # The tests pin it: "now" for the retention, never the machine's clock directly.
        self.clock = clock
        self.runs = 0  # finished runs, failed ones included
        self.purged = 0
        self.pruned = 0  # tombstones of the change log
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    async def purge_once(self) -> int:
        """Delete up to `batch` contacts whose time in the trash is over; how many it deleted."""
        cutoff = self.clock() - timedelta(days=get_settings().TRASH_RETENTION_DAYS)
        deleted_at = col(Contact.deleted_at)
        expired = select(col(Contact.id)).where(deleted_at < cutoff).order_by(deleted_at)
        async with SessionFactory() as session:
            result = await session.exec(
                delete(Contact).where(
                    col(Contact.id).in_(expired.limit(self.batch).scalar_subquery()),
                    # Restored since the subquery read it: not expired any more.
                    deleted_at < cutoff,
                )
            )
            await session.commit()
        return int(result.rowcount)

    async def prune_once(self) -> int:
        """Delete up to `batch` tombstones of the change log older than TOMBSTONE_DAYS; how
        many it deleted."""
        async with engine.connect() as connection:
            before = self.clock() - timedelta(days=TOMBSTONE_DAYS)
            count = await prune_tombstones(connection, before, self.batch)
            await connection.commit()
        return count

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            delay = self.interval
            try:
                async with asyncio.timeout(self.timeout):
                    count = await self.purge_once()
                    pruned = await self.prune_once()
                self.purged += count
                self.pruned += pruned
                if count:
                    logger.info("Purged %d contacts from the trash", count)
                if pruned:
                    logger.info("Pruned %d tombstones from the change log", pruned)
                if max(count, pruned) >= self.batch:
                    delay = self.backlog_interval
            except Exception:
                # A database that is down, or slow: the next run tries again.
                logger.exception("Purging the trash failed; trying again later")
            self.runs += 1
            wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await wake.wait()
            except TimeoutError:
                pass

    def start(self) -> bool:
        """Start purging in the running event loop (the app's lifespan); False when this
        purger runs already (a second app in one process)."""
        if self._task is not None and not self._task.done():
            return False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wake), name="purge-trash")
        return True

    def wake(self) -> None:
        """Run again now instead of at the end of the interval (for tests and operators)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# The app's purger, started and stopped by its lifespan.
purger = TrashPurger()
