"""The change log as sync reads it: tokens, numbering a user's pending changes, a page of
changes since a token, and pruning old tombstones. No FastAPI: the changes feed
(routes/changes.py) and CardDAV's sync-collection read through it.

Triggers on `contacts` (migration 0013) mark a contact's row of `contact_changes` pending
(`change_id` NULL) whenever anybody writes the contact. A reader numbers the user's pending
rows and reads its page in one transaction, in turn with the user's other readers (it locks
the user's row of `sync_states` first):

- A change that commits while a client reads its pages is pending at that moment, or locked
  by its writer (`SKIP LOCKED` leaves such a row for the next read): either way it gets a
  number above every number given so far, so it arrives in a later page, never lost.
- A row's number only grows: a contact that changes again is pending again, and is listed
  once, at its newest place.
- Both the numbering and the page find their rows through the index `(user_id, change_id)`:
  the time is proportional to the changes, not to the book (tests/test_changes_cost.py reads
  the plans).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from contacts_api.models import Contact, ContactChange, SyncState

CHANGES = ContactChange.__table__  # type: ignore[attr-defined]
STATES = SyncState.__table__  # type: ignore[attr-defined]
CONTACTS = Contact.__table__  # type: ignore[attr-defined]

# Tombstones are kept this long after the contact left the book, so a token stays good for
# at least 30 days (the contract's promise) with a day to spare.
TOMBSTONE_DAYS = 31

# `{user id}-{change number}`: opaque to clients, who send back what they were given.
TOKEN = re.compile(r"([0-9]{1,10})-([0-9]{1,18})")


# Where the columns asked for begin in a row of `read_changes`.
FIRST_COLUMN = 4


class UnknownToken(Exception):
    """A token this service did not give this user, or no longer honours: sync from the
    start."""


def make_token(user_id: int, change: int) -> str:
    return f"{user_id}-{change}"


def token_change(token: str, user_id: int) -> int:
    """The change number in `token`, if it is a token of `user_id`'s; else UnknownToken.
    (Whether the service still honours it is for `read_changes` to say.)"""
    match = TOKEN.fullmatch(token)
    if match is None or int(match[1]) != user_id:
        raise UnknownToken(token)
    return int(match[2])


@dataclass(frozen=True)
class ChangeRead:
    """A page of changes: rows of (`contact_id`, `change_id`, `gone`, `href`, *the columns
    asked for, None when gone), the number to continue from, and whether more follow."""

    rows: list[Row[Any]]
    next_change: int
    more: bool


# The statements of a read, built once with bound parameters (`owner`, `last`, `since`,
# `limit`): building them for every request cost about 1.3 ms of CPU, more than running them.
LOCK_STATE = (
    select(STATES.c.last_change, STATES.c.horizon)
    .where(STATES.c.user_id == bindparam("owner"))
    .with_for_update()
)
_PENDING = (
    select(CHANGES.c.contact_id, CHANGES.c.seq)
    .where(CHANGES.c.user_id == bindparam("owner"), CHANGES.c.change_id.is_(None))
    # A row that a writer holds now is left pending: it gets its number next time.
    .with_for_update(skip_locked=True)
    .subquery("pending")
)
_ORDER = func.row_number().over(order_by=_PENDING.c.seq)
_NUMBERED = select(
    _PENDING.c.contact_id, (bindparam("last", type_=BigInteger) + _ORDER).label("n")
).subquery("numbered")
NUMBER_PENDING = (
    update(CHANGES)
    .where(CHANGES.c.user_id == bindparam("owner"), CHANGES.c.contact_id == _NUMBERED.c.contact_id)
    .values(change_id=_NUMBERED.c.n)
)
SAVE_LAST = (
    update(STATES)
    .where(STATES.c.user_id == bindparam("owner"))
    .values(last_change=bindparam("last"))
)


@cache
def page_statement(columns: tuple[Any, ...], first: bool) -> Select[Any]:
    """A page of changes after `since` with the contacts' `columns` (None where a contact
    left the book); for a `first` read, without the contacts that left it."""
    contact = and_(CONTACTS.c.id == CHANGES.c.contact_id, CONTACTS.c.owner_id == CHANGES.c.user_id)
    gone: ColumnElement[bool] = or_(CONTACTS.c.id.is_(None), CONTACTS.c.deleted_at.is_not(None))
    page = (
        select(
            CHANGES.c.contact_id, CHANGES.c.change_id, gone.label("gone"), CHANGES.c.href, *columns
        )
        .select_from(CHANGES.outerjoin(CONTACTS, contact))
        .where(CHANGES.c.user_id == bindparam("owner"), CHANGES.c.change_id > bindparam("since"))
        .order_by(CHANGES.c.change_id)
        .limit(bindparam("limit", type_=BigInteger))
    )
    if first:
        # A client with nothing needs no word of what left the book before it came.
        page = page.where(not_(CHANGES.c.deleted))
    return page


async def lock_state(connection: AsyncConnection, user_id: int) -> tuple[int, int]:
    """Lock the user's row of `sync_states` (made on the first read) until the transaction
    ends; their (`last_change`, `horizon`)."""
    owner = {"owner": user_id}
    state = (await connection.execute(LOCK_STATE, owner)).first()
    if state is None:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        await connection.execute(
            insert(STATES)
            .values(user_id=user_id)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        state = (await connection.execute(LOCK_STATE, owner)).one()
    return int(state.last_change), int(state.horizon)


async def number_changes(connection: AsyncConnection, user_id: int, last_change: int) -> int:
    """Give the user's pending changes the numbers after `last_change`, in the order they were
    made; the new last number. The user's state must be locked (`lock_state`)."""
    parameters = {"owner": user_id, "last": last_change}
    count = int((await connection.execute(NUMBER_PENDING, parameters)).rowcount)
    if count:
        last_change += count
        await connection.execute(SAVE_LAST, {"owner": user_id, "last": last_change})
    return last_change


async def current_change(connection: AsyncConnection, user_id: int) -> int:
    """The user's newest change number, every change made so far numbered (for a
    `sync-token` property). Call it in a transaction, and commit."""
    last_change, _ = await lock_state(connection, user_id)
    return await number_changes(connection, user_id, last_change)


async def read_changes(
    connection: AsyncConnection,
    user_id: int,
    since: int | None,
    limit: int,
    columns: Sequence[Any],
) -> ChangeRead:
    """The user's changes after change `since` (None: the whole book, without the contacts
    that left it), at most `limit`, with the contacts' `columns`. UnknownToken when `since`
    is beyond every number given, or before the horizon of pruned tombstones. Call it in a
    transaction, and commit."""
    last_change, horizon = await lock_state(connection, user_id)
    if since is not None and not horizon <= since <= last_change:
        raise UnknownToken(make_token(user_id, since))
    last_change = await number_changes(connection, user_id, last_change)
    page = page_statement(tuple(columns), since is None)
    parameters = {"owner": user_id, "since": since or 0, "limit": limit + 1}
    rows = list((await connection.execute(page, parameters)).all())
    if len(rows) > limit:
        del rows[limit:]
        return ChangeRead(rows, rows[-1].change_id, more=True)
    return ChangeRead(rows, last_change, more=False)


async def prune_tombstones(connection: AsyncConnection, before: datetime, batch: int) -> int:
    """Delete up to `batch` numbered tombstones of contacts that left the book before
    `before`, and move each user's horizon past them, so that a token older than what was
    pruned is refused rather than silently missing a deletion; how many it deleted. A pending
    tombstone waits for its number first. Call it in a transaction, and commit."""
    old = (
        select(CHANGES.c.user_id, CHANGES.c.contact_id)
        .where(CHANGES.c.deleted, CHANGES.c.changed_at < before, CHANGES.c.change_id.is_not(None))
        .order_by(CHANGES.c.changed_at)
        .limit(batch)
        # Never wait for (nor deadlock with) a writer that holds a row: it is no tombstone
        # for long, or the next run prunes it.
        .with_for_update(skip_locked=True)
    )
    pruned = await connection.execute(
        delete(CHANGES)
        .where(tuple_(CHANGES.c.user_id, CHANGES.c.contact_id).in_(old))
        .returning(CHANGES.c.user_id, CHANGES.c.change_id)
    )
    rows = pruned.all()
    horizons: dict[int, int] = {}
    for user_id, change_id in rows:
        horizons[user_id] = max(horizons.get(user_id, 0), change_id)
    for user_id, horizon in sorted(horizons.items()):
        await connection.execute(
            update(STATES)
            .where(STATES.c.user_id == user_id, STATES.c.horizon < horizon)
            .values(horizon=horizon)
        )
    return len(rows)
