"""The trash empties itself: contacts deleted more than TRASH_RETENTION_DAYS ago are purged by
an hourly job of the app's own (contacts_api/jobs.py: once an hour across every process and
replica), not by a request.

Each run deletes in batches of at most `batch` contacts, each in one short transaction (oldest
first, through the partial index on `deleted_at`), so a backlog never holds locks or a
connection for long. A database that is down makes a batch fail within its timeout; the failure
is logged and the next hour's run tries again. No FastAPI here.

The same runs prune the change log's tombstones (contacts that left the book more than
TOMBSTONE_DAYS ago; contacts_api/changes.py): sync tokens older than what they prune are
refused from then on, so the log does not grow with every contact ever deleted.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, delete, select

from contacts_api.changes import TOMBSTONE_DAYS, prune_tombstones
from contacts_api.config import get_settings
from contacts_api.db import SessionFactory, engine
from contacts_api.jobs import Job
from contacts_api.models import Contact, utc_now

logger = logging.getLogger(__name__)


class TrashPurger:
    """The purge of expired contacts from every user's trash, as a job."""

    def __init__(
        self,
        *,
        backlog_interval: float = 1.0,
        batch: int = 1000,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.backlog_interval = backlog_interval
        self.batch = batch
        self.timeout = timeout
        # The tests pin it: "now" for the retention, never the machine's clock directly.
        self.clock = clock
        self.runs = 0  # finished runs, failed ones included
        self.purged = 0
        self.pruned = 0  # tombstones of the change log

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

    async def run(self, _due_at: datetime) -> None:
        """One run of the job: batches until the expired contacts (and tombstones) are gone."""
        try:
            while True:
                async with asyncio.timeout(self.timeout):
                    count = await self.purge_once()
                    pruned = await self.prune_once()
                self.purged += count
                self.pruned += pruned
                if count:
                    logger.info("Purged %d contacts from the trash", count)
                if pruned:
                    logger.info("Pruned %d tombstones from the change log", pruned)
                if max(count, pruned) < self.batch:
                    break
                await asyncio.sleep(self.backlog_interval)  # a backlog: room for requests
        except Exception as exc:
            # A database that is down, or slow: the next hour's run tries again.
            logger.error(
                "Purging the trash failed (%s: %s); trying again at the next run",
                type(exc).__name__,
                exc,
            )
        finally:
            self.runs += 1


# The app's purger, run by the scheduler of contacts_api/jobs.py once an hour.
purger = TrashPurger()
PURGE_JOB = Job("purge-trash", timedelta(hours=1), purger.run)
