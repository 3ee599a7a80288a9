"""Labels: each user's own names for groups of contacts, with how many contacts have each."""

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import and_, func, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.db import unique_or_409
from contacts_api.deps import CurrentUser, OwnedLabel, SessionDep
from contacts_api.docs import UNAUTHORIZED, error, invalid
from contacts_api.models import (
    Contact,
    ContactLabel,
    Label,
    LabelIn,
    LabelPublic,
    label_key,
    label_names,
    label_order,
)

LABEL_TAKEN = "You already have a label with this name"

router = APIRouter(prefix="/labels", tags=["labels"], responses=UNAUTHORIZED)

LABEL_NOT_FOUND = error(404, "No such label of yours", "Label not found")
LABEL_CONFLICT = error(
    409,
    "You have a label with this name (names match case-insensitively)",
    LABEL_TAKEN,
)
INVALID_LABEL = invalid("body", "name", "value_error", "Value error, must not contain ',' or ';'")

INSERT: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


async def find_or_create_labels(
    session: AsyncSession, owner_id: int, names: Iterable[str]
) -> dict[str, tuple[int, str]]:
    """The user's labels for `names` by key (`label_key`): `(id, name as first spelled)`.

    A name that matches no label (case aside) creates one, spelled as given. The labels are
    locked (FOR SHARE) until the transaction ends, so that a rename or a deletion of one of
    them waits for this write and then sees its contacts (to change their ETags). Call it
    before the contact's UPDATE: renames and deletions lock the label first and the contacts
    second, and so must every writer, or two of them could deadlock.
    """
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(label_key(name), name.strip())
    found: dict[str, tuple[int, str]] = {}
    # Twice at most: a label deleted between our INSERT and SELECT is made again.
    for _ in range(3):
        if not wanted:
            return found
        rows = await session.exec(
            select(Label.id, Label.name, Label.name_key)
            .where(col(Label.owner_id) == owner_id, col(Label.name_key).in_(wanted))
            .with_for_update(read=True)
        )
        for label_id, name, key in rows:
            found[key] = (label_id, name)  # type: ignore[assignment]
            del wanted[key]
        if not wanted:
            return found
        connection = await session.connection()
        # Two writers that create one new label at once: the second inserts nothing and
        # finds the first one's row (after it committed) on the next turn.
        await connection.execute(
            INSERT[connection.dialect.name](Label).on_conflict_do_nothing(
                index_elements=["owner_id", "name_key"]
            ),
            [{"owner_id": owner_id, **label_names(name)} for name in wanted.values()],
        )
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Labels changed too fast; retry")


async def bump_contacts_with(session: AsyncSession, label_id: int) -> None:
    """A new version (and ETag) for every contact that has the label: their representation
    changes with its name."""
    has_label = sql_select(col(ContactLabel.contact_id)).where(
        col(ContactLabel.label_id) == label_id
    )
    await session.exec(
        update(Contact)
        .where(col(Contact.id).in_(has_label))
        .values(version=col(Contact.version) + 1)
    )


def labels_with_counts(owner_id: int, label_id: int | None = None) -> Any:
    """The user's labels with the number of contacts in the book that have each."""
    live_contact = and_(
        col(Contact.id) == col(ContactLabel.contact_id), col(Contact.deleted_at).is_(None)
    )
    statement = (
        sql_select(col(Label.id), col(Label.name), func.count(col(Contact.id)))
        .outerjoin(ContactLabel, col(ContactLabel.label_id) == col(Label.id))
        .outerjoin(Contact, live_contact)
        .where(col(Label.owner_id) == owner_id)
        .group_by(col(Label.id), col(Label.name))
    )
    return statement if label_id is None else statement.where(col(Label.id) == label_id)


async def read_label_counts(session: AsyncSession, owner_id: int, label_id: int) -> LabelPublic:
    row = (await session.exec(labels_with_counts(owner_id, label_id))).first()
    if row is None:  # deleted by a concurrent request
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Label not found")
    return LabelPublic(id=row[0], name=row[1], contacts=row[2])


@router.get("", response_model=list[LabelPublic])
async def read_labels(user: CurrentUser, session: SessionDep) -> list[LabelPublic]:
    """Your labels, ordered by name, each with how many contacts in your book have it."""
    rows = (await session.exec(labels_with_counts(user.id))).all()  # type: ignore[arg-type]
    labels = [LabelPublic(id=id_, name=name, contacts=count) for id_, name, count in rows]
    # Sorted here, as each contact's `labels` are: the database's collation may differ.
    return sorted(labels, key=lambda label: (*label_order(label.name), label.id))


@router.get("/{label_id:id}", response_model=LabelPublic, responses=LABEL_NOT_FOUND)
async def read_label(label: OwnedLabel, session: SessionDep) -> LabelPublic:
    """One of your labels, with how many contacts in your book have it."""
    return await read_label_counts(session, label.owner_id, label.id)  # type: ignore[arg-type]


async def save_label(session: AsyncSession, label: Label) -> None:
    session.add(label)
    async with unique_or_409(session, LABEL_TAKEN):
        await session.commit()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LabelPublic,
    responses=LABEL_CONFLICT | INVALID_LABEL,
)
async def create_label(
    label_in: LabelIn, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> LabelPublic:
    """Add a label, for no contact yet."""
    label = Label.model_validate(label_names(label_in.name) | {"owner_id": user.id})
    await save_label(session, label)
    response.headers["Location"] = request.url_for("read_label", label_id=label.id).path
    return LabelPublic(id=label.id, name=label.name, contacts=0)  # type: ignore[arg-type]


@router.patch(
    "/{label_id:id}",
    response_model=LabelPublic,
    responses=LABEL_NOT_FOUND | LABEL_CONFLICT | INVALID_LABEL,
)
async def rename_label(label: OwnedLabel, label_in: LabelIn, session: SessionDep) -> LabelPublic:
    """Rename a label, on every contact that has it."""
    label.sqlmodel_update(label_names(label_in.name))
    session.add(label)
    try:
        # The label's UPDATE first (it waits for writers that hold the label), then the
        # contacts': a contact that one of them just gave the label gets its new ETag too.
        async with unique_or_409(session, LABEL_TAKEN):
            await session.flush()
    except StaleDataError:  # deleted by a concurrent request
        await session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Label not found") from None
    await bump_contacts_with(session, label.id)  # type: ignore[arg-type]
    # Counted before the commit: a concurrent deletion may take the label right after it.
    renamed = await read_label_counts(session, label.owner_id, label.id)  # type: ignore[arg-type]
    await session.commit()
    return renamed


@router.delete("/{label_id:id}", status_code=status.HTTP_204_NO_CONTENT, responses=LABEL_NOT_FOUND)
async def delete_label(label: OwnedLabel, session: SessionDep) -> None:
    """Delete a label: it goes from every contact that had it; the contacts stay."""
    # Locked first, like a rename: writers that are giving it to a contact finish before the
    # contacts that have it get their new ETags.
    locked = await session.exec(select(Label.id).where(col(Label.id) == label.id).with_for_update())
    if locked.first() is None:  # deleted by a concurrent request
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Label not found")
    await bump_contacts_with(session, label.id)  # type: ignore[arg-type]
    deleted = await session.exec(delete(Label).where(col(Label.id) == label.id))
    await session.commit()
    if deleted.rowcount == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Label not found")
