"""The trash: deleted contacts wait here, out of the book, until they are restored, deleted
for good, or purged after `TRASH_RETENTION_DAYS` (contacts_api/trash.py)."""

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete

from contacts_api.contact_writes import contact_answer, lock_book, with_etag
from contacts_api.dav.cards import address_taken
from contacts_api.deps import PUBLIC_COLUMNS, PUBLIC_FIELDS, CurrentUser, SessionDep, TrashedContact
from contacts_api.docs import UNAUTHORIZED, error
from contacts_api.models import (
    Contact,
    ContactPublic,
    TrashedContactPublic,
    TrashPage,
    new_uid,
)
from contacts_api.routes.contacts import LIMIT_TOO_LARGE, PageLimit, PageOffset

router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)

TRASH_NOT_FOUND = error(404, "No such contact in your trash", "Contact not found in your trash")


@router.get(
    "/trash",
    response_model=TrashPage,
    responses=LIMIT_TOO_LARGE,
)
async def read_trash(
    user: CurrentUser,
    session: SessionDep,
    limit: PageLimit = 20,
    offset: PageOffset = 0,
) -> TrashPage:
    """The contacts in your trash, most recently deleted first, a page at a time."""
    in_trash = [col(Contact.owner_id) == user.id, col(Contact.deleted_at).is_not(None)]
    count = sql_select(func.count()).select_from(Contact).where(*in_trash)
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sql_select(*PUBLIC_COLUMNS, col(Contact.deleted_at), count.scalar_subquery())
            .where(*in_trash)
            .order_by(col(Contact.deleted_at).desc(), col(Contact.id).desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    fields = [*PUBLIC_FIELDS, "deleted_at"]
    if rows:
        total = rows[0][-1]
    elif offset == 0:
        total = 0
    else:
        total = (await session.exec(count)).scalar_one()  # type: ignore[call-overload]
    return TrashPage(
        items=[
            TrashedContactPublic(**dict(zip(fields, values, strict=True))) for *values, _ in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.delete("/trash", status_code=status.HTTP_204_NO_CONTENT)
async def empty_trash(user: CurrentUser, session: SessionDep) -> None:
    """Delete every contact in your trash for good."""
    await session.exec(
        delete(Contact).where(
            col(Contact.owner_id) == user.id, col(Contact.deleted_at).is_not(None)
        )
    )
    await session.commit()


@router.post(
    "/trash/{contact_id:id}/restore",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact, back in your book as it was") | TRASH_NOT_FOUND,
)
async def restore_contact(contact: TrashedContact, session: SessionDep) -> Response:
    """Bring a contact back from the trash into your book, as it was."""
    labels = contact.labels
    # One card at a time takes an address (the user's row locked, as a CardDAV PUT that
    # creates does): when the book has a card of this one's UID or CardDAV name since, this
    # one comes back with a new UID, at `{UID}.vcf` (docs/readings.md).
    await lock_book(session, contact.owner_id)
    name = contact.dav_name or f"{contact.uid}.vcf"
    if await address_taken(session, contact.owner_id, contact.uid, name):
        contact.uid = new_uid()
        contact.dav_name = None
    contact.deleted_at = None
    session.add(contact)
    try:
        # `WHERE version = ...`: of two restores (or a restore and a purge), one finds it.
        await session.commit()
    except StaleDataError:
        await session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found in your trash") from None
    set_committed_value(contact, "labels", labels)
    return contact_answer(contact)


@router.delete(
    "/trash/{contact_id:id}", status_code=status.HTTP_204_NO_CONTENT, responses=TRASH_NOT_FOUND
)
async def delete_contact_for_good(contact: TrashedContact, session: SessionDep) -> None:
    """Delete a contact in your trash for good."""
    deleted = await session.exec(
        delete(Contact).where(col(Contact.id) == contact.id, col(Contact.deleted_at).is_not(None))
    )
    await session.commit()
    if deleted.rowcount == 0:  # restored or deleted by a concurrent request
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found in your trash")
