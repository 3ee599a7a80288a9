"""Mail that is never lost: every message is a row of the `outbox` table, written in the
transaction of the change that causes it, and delivered after the answer by workers of the
service's own.

    enqueue(session, verification_mail(user.email, link))   # in the route, before its commit

A rolled-back change leaves no message; a committed one survives a restart, a crash and a mail
server that is down for hours. Each process runs a few workers. A worker claims up to ten due
rows in a short transaction of its own, by moving their `due_at` past the end of a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so that two workers never take one row; SQLite has one
writer at a time, and the claim is one UPDATE), sends them over one SMTP connection outside any
transaction, then deletes those the server took, and moves the others' `due_at` to their next
retry. A process that dies while sending leaves its rows to be taken again when the lease ends:
at worst a second copy, never no message.

Retries: after 30 s (MAIL_RETRY_FIRST_SECONDS), doubling up to an hour, until
MAIL_RETRY_HOURS after the message was written; then it is given up on and logged. A commit
that enqueued wakes a worker of its process at once; every worker also looks every 5 s, which
is how messages written by another process, or due for a retry, are found.
No FastAPI here: the app starts and stops the workers in its lifespan.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import get_settings
from contacts_api.db import engine as app_engine
from contacts_api.mail import Mail, Mailer, Undeliverable, reason
from contacts_api.models import OutboxMessage, utc_now

log = logging.getLogger("contacts_api.outbox")

# Deliveries in progress at once in each process: a message that the server keeps waiting
# holds one worker, not the messages behind it.
WORKERS = 4
# Messages a worker claims at once and sends over one SMTP connection: one claim, one
# connection and one delete for ten messages instead of for each (bench/delivery.py).
BATCH = 10
# How long a worker woken by a commit waits for more messages to send with it.
GATHER_SECONDS = 0.1
# How often an idle worker looks for due messages without being woken.
POLL_SECONDS = 5.0
# The longest one batch's attempts may take (the connection and every SMTP command have their
# own 10 s timeouts too); the lease is longer, so that no other worker takes a message while
# its attempt can still succeed.
ATTEMPT_SECONDS = 60.0
LEASE = timedelta(seconds=2 * ATTEMPT_SECONDS)
LONGEST_DELAY = timedelta(hours=1)

# The key in a session's `info` that says its commit has messages for the workers.
WAKE = "outbox_wake"

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


def enqueue(session: AsyncSession, mail: Mail) -> None:
    """Write `mail` to the outbox in the caller's transaction: it is sent after the caller
    commits, and never if the caller rolls back."""
    now = utc_now()
    session.add(
        OutboxMessage(
            recipient=mail.to,
            subject=mail.subject,
            body=mail.text,
            link=mail.link,
            created_at=now,
            due_at=now,
        )
    )
    session.sync_session.info[WAKE] = True


async def enqueue_many(session: AsyncSession, mails: Sequence[Mail]) -> None:
    """`enqueue` for many messages: one INSERT of many rows on the session's connection. The
    reminders' run writes thousands, and the ORM's flush of one object per message cost 0.62 s
    of its 2.9 s for 2,421 messages (docs/performance.md)."""
    if not mails:
        return
    now = utc_now()
    rows = [
        {
            "recipient": mail.to,
            "subject": mail.subject,
            "body": mail.text,
            "link": mail.link,
            "created_at": now,
            "due_at": now,
            "attempts": 0,
        }
        for mail in mails
    ]
    await (await session.connection()).execute(OUTBOX.insert(), rows)
    session.sync_session.info[WAKE] = True


def retry_delay(attempts: int, first: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: `first`, doubling, at most an hour."""
    seconds = first * 2 ** min(attempts - 1, 20)
    return min(timedelta(seconds=seconds), LONGEST_DELAY)


class OutboxWorkers:
    """The workers of one process, started and stopped by the app's lifespan."""

    def __init__(
        self,
        mailer: Mailer,
        *,
        engine: AsyncEngine = app_engine,
        workers: int = WORKERS,
        batch: int = BATCH,
        gather: float = GATHER_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.mailer = mailer
        self.engine = engine
        self.workers = workers
        self.batch = batch
        self.gather = gather
        # "Now" for due times and the retry deadline: tests pin it, never the machine's clock.
        self.clock = clock
        settings = get_settings()
        self.retry_for = timedelta(hours=settings.MAIL_RETRY_HOURS)
        self.first_delay = settings.MAIL_RETRY_FIRST_SECONDS
        self.delivering = 0  # attempts in progress in this process
        self._sending: set[asyncio.Task[Any]] = set()  # the workers making them
        self._stopping = False
        self._gathering = False  # a woken worker waits for more messages to claim with
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeups: asyncio.Queue[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- Waking ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake one idle worker (from any thread): there may be a message due."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_one()
        else:
            loop.call_soon_threadsafe(self._wake_one)

    def _wake_one(self) -> None:
        # One token at most, and none while a woken worker has yet to claim: that claim takes
        # this commit's message too. A worker that claims a full batch wakes the next itself.
        if self._wakeups is not None and self._wakeups.empty() and not self._gathering:
            self._wakeups.put_nowait(None)

    # --- Claiming and recording -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            yield connection

    async def claim(self) -> Sequence[Row[Any]]:
        """Take up to BATCH of the earliest due messages for this worker (none: none due)."""
        now = self.clock()
        earliest = (
            select(OUTBOX.c.id)
            .where(OUTBOX.c.due_at <= now)
            .order_by(OUTBOX.c.due_at)
            .limit(self.batch)
            # Rows that another worker is claiming right now are passed over, not waited for.
            # SQLite writes no FOR UPDATE: its transactions that write take the one write lock
            # at BEGIN (db.py), so two claims never overlap there.
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(earliest))
            .values(due_at=now + LEASE, attempts=OUTBOX.c.attempts + 1)
            .returning(
                OUTBOX.c.id,
                OUTBOX.c.recipient,
                OUTBOX.c.subject,
                OUTBOX.c.body,
                OUTBOX.c.link,
                OUTBOX.c.created_at,
                OUTBOX.c.attempts,
            )
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(claim)).all()
        return sorted(rows, key=lambda row: row.id)  # oldest first: RETURNING keeps no order

    async def _forget(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            async with self._transaction() as connection:
                await connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(message_ids)))

    async def _retry_at(self, message_id: int, due_at: datetime, error: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == message_id)
                .values(due_at=due_at, last_error=error[:1000])
            )

    async def deliver_one(self) -> bool:
        """Claim a batch of due messages and make one attempt at each; True when the batch was
        full, so that more may be due. (A batch, not one message: the name is kept for its
        callers.)"""
        task = asyncio.current_task()
        # Counted from before the claim: a message is never claimed and not counted (idle()).
        self.delivering += 1
        if task is not None:
            self._sending.add(task)
        try:
            rows = await self.claim()
            if not rows:
                return False
            full = len(rows) == self.batch
            if full:
                self._wake_one()  # there may be more: let another worker look
            await self._attempt(rows)
            # A batch that was not full took every message due: the next one's commit wakes a
            # worker. A look now would be a transaction for nothing, per message at low load.
            return full
        finally:
            self.delivering -= 1
            if task is not None:
                self._sending.discard(task)

    async def _attempt(self, rows: Sequence[Row[Any]]) -> None:
        mails = [
            Mail(to=row.recipient, subject=row.subject, text=row.body, link=row.link)
            for row in rows
        ]
        outcomes: dict[int, Exception | None] = {}
        try:
            async with asyncio.timeout(ATTEMPT_SECONDS):
                await self.mailer.send_all(mails, outcomes)
        except TimeoutError as exc:  # a server that keeps us waiting: the rest failed
            for index in range(len(rows)):
                outcomes.setdefault(index, exc)
        # Recorded at once, in one statement for the batch: a crash between the server's
        # acceptance and this delete is the only way to a second copy.
        done = [row.id for index, row in enumerate(rows) if not outcomes[index]]
        gone = [
            row.id for index, row in enumerate(rows) if isinstance(outcomes[index], Undeliverable)
        ]
        await self._forget(done + gone)
        for index, (row, mail) in enumerate(zip(rows, mails, strict=True)):
            outcome = outcomes[index]
            if outcome is None:
                if self.mailer.host is not None:
                    # No link here: it carries a token, and logs are read by more people.
                    log.info('Mail to %s: "%s" sent', mail.to, mail.subject)
            elif isinstance(outcome, Undeliverable):
                log.error('Mail to %s: "%s" gave up: %s', mail.to, mail.subject, outcome)
            else:  # whatever it was, it is a retry, never the caller's error
                await self._failed(row, mail, reason(outcome))

    async def _failed(self, row: Row[Any], mail: Mail, why: str) -> None:
        now = self.clock()
        created_at = row.created_at
        if created_at.tzinfo is None:  # SQLite gives timestamps back without their zone
            created_at = created_at.replace(tzinfo=now.tzinfo)
        deadline = created_at + self.retry_for
        if now >= deadline:
            await self._forget([row.id])
            log.error(
                'Mail to %s: "%s" failed (attempt %d): %s; gave up after %g h',
                mail.to,
                mail.subject,
                row.attempts,
                why,
                self.retry_for.total_seconds() / 3600,
            )
            return
        # The last attempt falls on the deadline itself, not a whole delay after it.
        due_at = min(now + retry_delay(row.attempts, self.first_delay), deadline)
        await self._retry_at(row.id, due_at, why)
        log.warning(
            'Mail to %s: "%s" failed (attempt %d): %s; retrying in %g s',
            mail.to,
            mail.subject,
            row.attempts,
            why,
            (due_at - now).total_seconds(),
        )

    # --- Running ----------------------------------------------------------------------------

    async def _work(self, wakeups: asyncio.Queue[None]) -> None:
        while not self._stopping:
            try:
                if await self.deliver_one():
                    continue
            except Exception as exc:
                # The database is down or slow: the message stays where it is, and the next
                # look finds it. One line, no traceback: this is the weather, not a bug.
                log.warning(
                    "The outbox could not be read (%s); trying again in %g s",
                    reason(exc),
                    POLL_SECONDS,
                )
            try:
                async with asyncio.timeout(POLL_SECONDS):
                    await wakeups.get()
            except TimeoutError:
                continue
            # Woken by a commit: the next requests' messages join this one's batch. A tenth of
            # a second later for the mail; a claim, a connection and a delete fewer for each
            # message that joins (docs/performance.md).
            self._gathering = True
            try:
                await asyncio.sleep(self.gather)
            finally:
                self._gathering = False

    def start(self) -> bool:
        """Start the workers on the running loop (the app's lifespan); False when they run
        already (a second app in one process)."""
        if any(not task.done() for task in self._tasks):
            return False
        self._loop = asyncio.get_running_loop()
        self._wakeups = asyncio.Queue(maxsize=1)
        self._tasks = [
            asyncio.create_task(self._work(self._wakeups), name=f"outbox-worker-{number}")
            for number in range(self.workers)
        ]
        self._wake_one()  # what waited while the service was down
        return True

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let attempts in progress end for up to `timeout` seconds, then cancel the workers.
        A message cancelled half way is taken again when its lease ends."""
        self._stopping = True
        busy = [task for task in self._tasks if task in self._sending]
        for task in self._tasks:
            if task not in busy:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=timeout)
        for task in busy:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._loop = None
        self._stopping = False
        if self.engine is not app_engine:
            await self.engine.dispose()  # its connections belong to this loop

    async def waiting(self) -> tuple[int, datetime | None]:
        """How many messages wait, and when the oldest was written (for /metrics)."""
        async with self.engine.connect() as connection:
            count, oldest = (
                await connection.execute(select(func.count(), func.min(OUTBOX.c.created_at)))
            ).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=self.clock().tzinfo)
        return int(count), oldest

    async def idle(self) -> bool:
        """No attempt in progress here and no message due (for tests)."""
        if self.delivering:
            return False
        async with self.engine.connect() as connection:
            due = await connection.execute(
                select(func.count()).where(OUTBOX.c.due_at <= self.clock())
            )
            return due.scalar_one() == 0


def background_engine(engine: AsyncEngine) -> AsyncEngine:
    """The workers' own connections: on PostgreSQL a small pool apart from the requests', whose
    commits do not wait for the disk (synchronous_commit off). A claim lost in a crash is a
    message due again; a delete lost in one is the second copy that a crash may cost anyway;
    the message itself was written durably, in its route's transaction. The two waits for the
    disk cost more than the rest of a forgot-password request (docs/performance.md). SQLite
    has one writer: its workers share the app's engine."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_async_engine(
        engine.url,
        pool_size=WORKERS + 1,  # the workers, and /metrics' count
        max_overflow=0,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "options": "-c synchronous_commit=off"},
    )


# The app's workers: the lifespan starts and stops them, and a commit that enqueued wakes one.
workers = OutboxWorkers(Mailer.from_settings(get_settings()), engine=background_engine(app_engine))


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(WAKE, False):
        workers.wake()


@event.listens_for(Session, "after_rollback")
def _nothing_to_wake(session: Session) -> None:
    session.info.pop(WAKE, None)
