"""Periodic jobs that run once per due time, however many processes and replicas run them.

    scheduler.add(Job("purge-trash", timedelta(hours=1), purger.run))   # before the app starts

A job is due at every multiple of its period since the epoch (hourly: at every full hour). The
`jobs` table holds each job's next due time. Every process's scheduler reads it every few
seconds; for a due job it moves the time to the next one with a conditional UPDATE
(`... WHERE name = :name AND due_at = :due`), and only the process whose UPDATE changed the row
runs the job, for that due time. So two replicas never run it twice for one time, a service that
was down runs it once when it is back (however many due times it missed), and a run that fails
is tried again a minute later. A process that dies during a run leaves that due time done: jobs
must be safe to skip once (the purge is: the next hour purges what this one did not) or keep
their own record of what they did (the reminders do).
No FastAPI here: the app starts and stops the scheduler in its lifespan.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from contacts_api.db import engine as app_engine
from contacts_api.models import JobSchedule, utc_now

log = logging.getLogger("contacts_api.jobs")

JOBS = JobSchedule.__table__  # type: ignore[attr-defined]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# How often each process looks at the schedule: how late a job may start.
POLL_SECONDS = 5.0
# A run that failed (raised or passed its timeout) is tried again this much later.
RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Job:
    """A task to run once per due time: every multiple of `every` since the epoch."""

    name: str
    every: timedelta
    # Called with the due time it runs for (not "now": a late run knows which time it is for).
    run: Callable[[datetime], Awaitable[None]]
    timeout: float = 600.0


def period_start(job: Job, now: datetime) -> datetime:
    """The latest due time of `job` at or before `now`."""
    return EPOCH + ((now - EPOCH) // job.every) * job.every


class Scheduler:
    """Each process's scheduler: claims due times of its jobs and runs them."""

    def __init__(
        self,
        *,
        engine: AsyncEngine = app_engine,
        clock: Callable[[], datetime] = utc_now,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.engine = engine
        # "Now" for due times: tests pin it, never the machine's clock directly.
        self.clock = clock
        self.poll = poll
        self.jobs: dict[str, Job] = {}
        self.runs: dict[str, int] = {}  # runs started by this process, per job (for tests)
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, job: Job) -> None:
        """Schedule `job` (before start(); a second job of one name replaces the first)."""
        self.jobs[job.name] = job
        self.runs.setdefault(job.name, 0)

    async def claim(self, job: Job) -> datetime | None:
        """The due time of `job` that this process now owns, or None when it is not due (or
        another process took it first)."""
        now = self.clock()
        async with self.engine.connect() as connection:
            due_at = (
                await connection.execute(select(JOBS.c.due_at).where(JOBS.c.name == job.name))
            ).scalar_one_or_none()
        if due_at is None:
            # Its first time on this database: due at once, as a fresh start would want.
            await self._insert(job, period_start(job, now))
            return await self.claim(job)
        if due_at > now:
            return None
        next_due = period_start(job, now) + job.every
        async with self.engine.begin() as connection:
            moved = await connection.execute(
                update(JOBS)
                .where(JOBS.c.name == job.name, JOBS.c.due_at == due_at)
                .values(due_at=next_due)
            )
        return due_at if moved.rowcount == 1 else None

    async def _insert(self, job: Job, due_at: datetime) -> None:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        async with self.engine.begin() as connection:
            await connection.execute(
                dialect.insert(JOBS)
                .values(name=job.name, due_at=due_at)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    async def run_due(self) -> int:
        """Run each job whose due time this process claims; how many ran."""
        ran = 0
        for job in list(self.jobs.values()):
            due_at = await self.claim(job)
            if due_at is None:
                continue
            ran += 1
            self.runs[job.name] = self.runs.get(job.name, 0) + 1
            log.info("Job %s: running for %s", job.name, due_at.isoformat())
            try:
                async with asyncio.timeout(job.timeout):
                    await job.run(due_at)
            except Exception as exc:
                await self._retry_soon(job)
                log.error(
                    "Job %s failed for %s: %s: %s; trying again in %s",
                    job.name,
                    due_at.isoformat(),
                    type(exc).__name__,
                    exc,
                    RETRY_AFTER,
                )
        return ran

    async def _retry_soon(self, job: Job) -> None:
        now = self.clock()
        next_due = period_start(job, now) + job.every
        async with self.engine.begin() as connection:
            # Only if nobody moved it since: another process may have run it meanwhile.
            await connection.execute(
                update(JOBS)
                .where(JOBS.c.name == job.name, JOBS.c.due_at == next_due)
                .values(due_at=min(now + RETRY_AFTER, next_due))
            )

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            try:
                await self.run_due()
            except Exception as exc:
                # The database is down or slow: the next look tries again. One line, no
                # traceback: this is the weather, not a bug.
                log.warning("The job schedule could not be read (%s: %s)", type(exc).__name__, exc)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await wake.wait()

    def start(self) -> bool:
        """Start on the running loop (the app's lifespan); False when it runs already (a
        second app in one process)."""
        if self._task is not None and not self._task.done():
            return False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wake), name="jobs")
        return True

    def wake(self) -> None:
        """Look at the schedule now instead of at the next poll (for tests and operators)."""
        if self._wake is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# The app's scheduler, started and stopped by its lifespan; jobs are added where main.py
# builds the app.
scheduler = Scheduler()
