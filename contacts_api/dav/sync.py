"""CardDAV's sync-collection REPORT (RFC 6578) and the book's `sync-token`, over the change
log (contacts_api/changes.py): what changed since a token, in time proportional to the changes.

- An empty token lists every card; a later one the cards changed since it, with their
  properties (`getetag` as the REST routes' ETag), and the cards that left the book
  (trashed, deleted for good) as 404 members; the answer ends with the new token.
- A token the service does not know or no longer keeps (its deletions were pruned after 31
  days) is 403 with `DAV:valid-sync-token`, as RFC 6578 §3.2 says: the client syncs again
  from an empty token.
- A `DAV:limit` is honoured: at most that many members, then a 507 member for the book itself
  and a token to continue from (RFC 6578 §3.6).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from xml.etree.ElementTree import Element

from fastapi import Response, status
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api import changes as change_log
from contacts_api.dav.answers import forbidden, multistatus_answer
from contacts_api.dav.auth import DavUserInfo
from contacts_api.dav.cards import CARD_NAME, book_path, card_path, contacts_by_id
from contacts_api.dav.props import answer, card_report_props, written_card
from contacts_api.dav.xml import (
    CARD,
    DAV,
    NRESULTS,
    address_data_version,
    requested_props,
    response,
    status_response,
    tag,
    text_element,
)
from contacts_api.db import engine
from contacts_api.errors import AppError
from contacts_api.formats.vcard_write import Version
from contacts_api.models import Contact, etag

# A sync-token is a URI (RFC 6578 §3.2); this one says whose and which change, as the changes
# feed's tokens do.
TOKEN_PREFIX = "http://contacts-api/ns/sync/"
# What a read of the log needs of each changed card: its name, and what its ETag and
# `getlastmodified` are made of.
CARD_COLUMNS = [
    col(Contact.id).label("id"),
    CARD_NAME.label("name"),
    col(Contact.version).label("version"),
    col(Contact.updated_at).label("updated_at"),
]
# Without a client's limit, every change in one answer (RFC 6578 leaves truncating to the
# server; clients that do not continue after a 507 would lose the rest).
NO_LIMIT = 1_000_000_000
# The cards read at once for `address-data`.
READ_BATCH = 1000


def sync_token(user_id: int, change: int) -> str:
    return TOKEN_PREFIX + change_log.make_token(user_id, change)


@asynccontextmanager
async def log_transaction(session: AsyncSession) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction of its own, for reading the change log: the request's
    session reads in autocommit (dav/auth.py), and numbering the pending changes under the
    user's lock must be one transaction. The session gives its connection back first, so the
    request never holds two of the pool's connections at once (requests that each held one
    and waited for a second could empty the pool)."""
    await session.commit()
    async with engine.connect() as connection:
        yield connection
        await connection.commit()


async def book_sync_token(session: AsyncSession, user_id: int) -> str:
    """The book's `sync-token`: every change made so far numbered, so a client that compares
    it with the one it holds sees that something changed."""
    async with log_transaction(session) as connection:
        change = await change_log.current_change(connection, user_id)
    return sync_token(user_id, change)


def _since(root: Element, user_id: int) -> int | None:
    """The change number of the request's token; None for an empty one."""
    text = (root.findtext(tag(DAV, "sync-token")) or "").strip()
    if not text:
        return None
    if not text.startswith(TOKEN_PREFIX):
        raise change_log.UnknownToken(text)
    return change_log.token_change(text.removeprefix(TOKEN_PREFIX), user_id)


async def sync_changes(session: AsyncSession, user: DavUserInfo, root: Element) -> Response:
    """RFC 6578's REPORT on the book."""
    level = (root.findtext(tag(DAV, "sync-level")) or "1").strip()
    if level not in ("1", "infinite"):  # a book has no collections inside: both mean its cards
        raise AppError(status.HTTP_400_BAD_REQUEST, "DAV:sync-level is 1 or infinite")
    limit = NO_LIMIT
    nresults = root.find(f"{tag(DAV, 'limit')}/{tag(DAV, 'nresults')}")
    if nresults is not None:
        if not NRESULTS.fullmatch(nresults.text or "") or int(nresults.text or "0") < 1:
            return forbidden(tag(DAV, "number-of-matches-within-limits"))
        limit = int(nresults.text or "0")
    requested = requested_props(root)
    try:
        since = _since(root, user.id)
        async with log_transaction(session) as connection:
            page = await change_log.read_changes(connection, user.id, since, limit, CARD_COLUMNS)
    except change_log.UnknownToken:
        return forbidden(tag(DAV, "valid-sync-token"))
    version = address_data_version(root)
    wants_text = requested is None or any(
        name in requested for name in (tag(CARD, "address-data"), tag(DAV, "getcontentlength"))
    )
    contacts: dict[int, Contact] = {}
    if wants_text:
        live = [row.contact_id for row in page.rows if not row.gone]
        # In batches: a first sync of a large book names more ids than SQLite takes at once.
        for start in range(0, len(live), READ_BATCH):
            contacts |= await contacts_by_id(session, live[start : start + READ_BATCH])
    # One member a name (RFC 4918 §14.24): when a card left the book and another took its
    # name since the token, the one in the book is what the device must keep.
    members: dict[str, Row] = {}  # type: ignore[type-arg]
    for row in page.rows:
        name = row.name or row.href
        if name not in members or members[name].gone:
            members[name] = row
    responses = [
        _member(user.id, name, row, requested, contacts, version) for name, row in members.items()
    ]
    if page.more:
        responses.append(status_response(book_path(user.id), 507))
    token = text_element(tag(DAV, "sync-token"), sync_token(user.id, page.next_change))
    return multistatus_answer(responses, token)


def _member(
    user_id: int,
    name: str,
    row: Row,  # type: ignore[type-arg]
    requested: list[str] | None,
    contacts: dict[int, Contact],
    version: Version,
) -> str:
    # `name`: for a card that left the book, the name it had (the contact's while it is in
    # the trash, the log's once it is deleted for good).
    if row.gone:
        return status_response(card_path(user_id, name), 404)
    contact = contacts.get(row.contact_id)
    card = None if contact is None else (lambda: written_card(contact, version))
    props = card_report_props(etag(row), row.updated_at, card)
    return response(card_path(user_id, name), answer(requested, props))
