"""Writing one contact: the optimistic version check with `If-Match`, the retry under a lock,
the labels, the trash, and the answer with the contact's ETag.

The REST routes (routes/contacts.py, routes/trash.py) and CardDAV's PUT and DELETE write
through these functions, so that both doors into the book keep the same ETags and the same
rules for concurrent writers.
"""

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.deps import if_match_holds
from contacts_api.docs import Responses, error
from contacts_api.models import (
    Contact,
    ContactLabel,
    User,
    etag,
    label_order,
    public,
    utc_now,
)
from contacts_api.routes.labels import find_or_create_labels

IN_THE_BOOK = col(Contact.deleted_at).is_(None)

ETAG_HEADER = {
    "ETag": {
        "description": "The contact's current entity-tag, for `If-Match` and `If-None-Match`",
        "schema": {"type": "string"},
    }
}
CHANGED_SINCE = "The contact changed since you read it"
PRECONDITION_FAILED = error(
    412,
    "`If-Match` does not hold the contact's current ETag: somebody changed it; nothing was changed",
    CHANGED_SINCE,
)


def with_etag(code: int, description: str) -> Responses:
    """The docs of an answer that carries the contact's ETag."""
    return {code: {"description": description, "headers": ETAG_HEADER}}


def precondition_failed() -> HTTPException:
    return HTTPException(status.HTTP_412_PRECONDITION_FAILED, CHANGED_SINCE)


def not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")


def check_if_match(if_match: str | None, contact: Contact) -> None:
    """412 unless `If-Match` (when sent) holds the contact's current ETag."""
    if if_match is not None and not if_match_holds(if_match, etag(contact)):
        raise precondition_failed()


def contact_answer(contact: Contact, code: int = status.HTTP_200_OK) -> Response:
    """One contact as JSON, with its ETag."""
    return Response(
        public(contact).model_dump_json(),
        status_code=code,
        media_type="application/json",
        headers={"ETag": etag(contact)},
    )


async def give_labels(
    session: AsyncSession, contact_id: int, labels: dict[str, tuple[int, str]]
) -> list[str]:
    """Make `labels` the contact's labels (replacing any it had); their names, in order."""
    await session.exec(delete(ContactLabel).where(col(ContactLabel.contact_id) == contact_id))
    if labels:
        session.add_all(
            ContactLabel(contact_id=contact_id, label_id=label_id)
            for label_id, _ in labels.values()
        )
        await session.flush()
    return sorted((name for _, name in labels.values()), key=label_order)


def needs_a_name(message: str) -> RequestValidationError:
    # The 422 that ContactCreate's own check gives, for a rule that only the stored contact
    # can tell for a PATCH.
    problem = {"type": "value_error", "loc": ("body",), "msg": f"Value error, {message}"}
    return RequestValidationError([problem | {"ctx": {"error": {}}}])


async def add_contact(session: AsyncSession, contact: Contact, labels: list[str]) -> None:
    """Store the new `contact` (owner and columns set) with `labels`, and commit."""
    found = await find_or_create_labels(session, contact.owner_id, labels)
    session.add(contact)
    await session.flush()
    names = await give_labels(session, contact.id, found)  # type: ignore[arg-type]
    await session.commit()
    set_committed_value(contact, "labels", names)


async def write_contact(
    session: AsyncSession,
    contact: Contact,
    changes_of: Callable[[Contact], dict[str, Any]],
    labels: list[str] | None,
    if_match: str | None,
) -> Contact:
    """Apply the changes that `changes_of(contact)` gives (and `labels`, unless None) to
    `contact`, and commit.

    The UPDATE carries `WHERE version = <the version read>` (SQLAlchemy's version_id_col):
    the database, not this function, decides which of two writers of one version wins. With
    `If-Match` the loser gets 412. Without it the write goes ahead: the contact is read again,
    this time locked (`FOR UPDATE`), and its changes are made again from what it holds now
    (a PATCH of `email` changes the primary entry of the list as it is), so that the second
    attempt cannot lose again however many writers there are (a bench of 16 PATCHes of one
    contact at once lost 440 retries out of some thousands with optimistic retries alone);
    404 when it went to the trash meanwhile.
    """
    contact_id = contact.id  # read now: a rollback expires the entity
    owner_id = contact.owner_id
    locked = False
    for _ in range(3):
        try:
            # Labels first, the contact's lock second: see find_or_create_labels.
            found = (
                None if labels is None else await find_or_create_labels(session, owner_id, labels)
            )
            if locked:
                # (SQLite writes no FOR UPDATE: there the transaction holds the database's
                # write lock from its BEGIN, see db.py.)
                fresh = (
                    await session.exec(
                        select(Contact)
                        .where(col(Contact.id) == contact_id, IN_THE_BOOK)
                        .with_for_update()
                        .execution_options(populate_existing=True)
                    )
                ).first()
                if fresh is None:
                    raise not_found()
                contact = fresh
            check_if_match(if_match, contact)
            try:
                changes = changes_of(contact)
            except ValueError as exc:
                raise needs_a_name(str(exc)) from None
            kept_labels = contact.labels
            contact.sqlmodel_update(changes)
            contact.updated_at = utc_now()
            session.add(contact)
            await session.flush()
            if found is not None:
                kept_labels = await give_labels(session, contact_id, found)  # type: ignore[arg-type]
            await session.commit()
        except StaleDataError:
            # Another write (or the trash) changed the row since it was read.
            await session.rollback()
            locked = True
            continue
        except BaseException:
            await session.rollback()
            raise
        set_committed_value(contact, "labels", kept_labels)
        return contact
    # Not reached: the locked attempt cannot lose the version check.
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "The contact changes too often")


async def trash_contact(session: AsyncSession, contact: Contact, if_match: str | None) -> None:
    """Move `contact` to the trash, and commit; 412 when `If-Match` no longer holds, 404 when
    somebody else trashed it first."""
    check_if_match(if_match, contact)
    # One UPDATE statement that checks its own conditions: of two concurrent deletes, the one
    # that finds the contact gone answers 404; with `If-Match`, of two writers of one version
    # the database lets exactly one through.
    contact_id = contact.id  # read now: a rollback expires the entity
    still_there = [col(Contact.id) == contact_id, IN_THE_BOOK]
    if if_match is not None and if_match.strip() != "*":
        still_there.append(col(Contact.version) == contact.version)
    trashed = await session.exec(
        update(Contact)
        .where(*still_there)
        .values(deleted_at=utc_now(), version=col(Contact.version) + 1)
    )
    if trashed.rowcount == 1:
        await session.commit()
        return
    await session.rollback()
    live = await session.exec(select(Contact.id).where(col(Contact.id) == contact_id, IN_THE_BOOK))
    if live.first() is not None:
        raise precondition_failed()
    raise not_found()


async def lock_book(session: AsyncSession, user_id: int) -> None:
    """The user's row locked until the transaction ends: one import, restore or CardDAV PUT
    of a user's book at a time, so that what each checks (a name, a UID, a duplicate) is
    still true when it writes. On SQLite the transaction's write lock does it (see db.py)."""
    await session.exec(
        select(User.id).where(col(User.id) == user_id).with_for_update(key_share=True)
    )
