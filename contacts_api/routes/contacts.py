"""Contacts: create, read, update, delete, search, upcoming birthdays, and the trash."""

from calendar import isleap
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AfterValidator
from pydantic_core import to_json
from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, literal, or_, update
from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.db import is_unique_violation, read_engine, unique_or_409
from contacts_api.deps import (
    PUBLIC_COLUMNS,
    PUBLIC_FIELDS,
    UNKNOWN_TIME_ZONE,
    CurrentUser,
    IfMatch,
    IfNoneMatch,
    OwnedContact,
    OwnedContactRow,
    SessionDep,
    Today,
    TokenClaims,
    TrashedContact,
    first_statement,
    if_match_holds,
    if_none_match_holds,
    session_is_open,
    session_parameters,
    session_user_id,
)
from contacts_api.docs import (
    CONTACT_CONFLICT,
    INVALID_CONTACT,
    NOT_FOUND,
    UNAUTHORIZED,
    Responses,
    error,
    invalid,
)
from contacts_api.models import (
    AuthSession,
    Contact,
    ContactBirthday,
    ContactCreate,
    ContactLabel,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    Label,
    TrashedContactPublic,
    TrashPage,
    birthday_key,
    etag,
    label_key,
    label_order,
    no_control_characters,
    utc_now,
)
from contacts_api.routes.labels import find_or_create_labels

IN_THE_BOOK = col(Contact.deleted_at).is_(None)

# Paging, the same for the book and the trash.
PageLimit = Annotated[int, Query(ge=1, le=100)]
PageOffset = Annotated[int, Query(ge=0, le=2**31 - 1)]
LIMIT_TOO_LARGE = invalid(
    "query", "limit", "less_than_equal", "Input should be less than or equal to 100", le=100
)

ETAG_HEADER = {
    "ETag": {
        "description": "The contact's current entity-tag, for `If-Match` and `If-None-Match`",
        "schema": {"type": "string"},
    }
}
PRECONDITION_FAILED = error(
    412,
    "`If-Match` does not hold the contact's current ETag: somebody changed it; nothing was changed",
    "The contact changed since you read it",
)
NOT_MODIFIED: Responses = {
    304: {"description": "`If-None-Match` holds the current ETag: your copy is current"}
}
RESTORE_CONFLICT = error(
    409,
    "A contact in your book has this contact's email now",
    "A contact in your book has this email now",
)
TRASH_NOT_FOUND = error(404, "No such contact in your trash", "Contact not found in your trash")


def with_etag(code: int, description: str) -> Responses:
    return {code: {"description": description, "headers": ETAG_HEADER}}


router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)


EMAIL_TAKEN = "You already have a contact with this email"


def conflict() -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, EMAIL_TAKEN)


def precondition_failed() -> HTTPException:
    return HTTPException(
        status.HTTP_412_PRECONDITION_FAILED, "The contact changed since you read it"
    )


def not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")


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


async def write_contact(
    session: AsyncSession,
    contact: Contact,
    changes: dict[str, Any],
    labels: list[str] | None,
    if_match: str | None,
) -> Contact:
    """Apply `changes` (and `labels`, unless None) to `contact`, and commit.

    The UPDATE carries `WHERE version = <the version read>` (SQLAlchemy's version_id_col):
    the database, not this function, decides which of two writers of one version wins. With
    `If-Match` the loser gets 412. Without it the write goes ahead: the contact is read again,
    this time locked (`FOR UPDATE`), so that the second attempt cannot lose again however many
    writers there are (a bench of 16 PATCHes of one contact at once lost 440 retries out of
    some thousands with optimistic retries alone); 404 when it went to the trash meanwhile.
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
            if if_match is not None and not if_match_holds(if_match, etag(contact)):
                raise precondition_failed()
            kept_labels = contact.labels
            contact.sqlmodel_update(changes)
            contact.updated_at = utc_now()
            session.add(contact)
            await session.flush()
            if found is not None:
                kept_labels = await give_labels(session, contact_id, found)  # type: ignore[arg-type]
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            if not is_unique_violation(exc):
                raise
            raise conflict() from None
        except StaleDataError:
            # Another write (or the trash) changed the row since it was read.
            await session.rollback()
            locked = True
            continue
        set_committed_value(contact, "labels", kept_labels)
        return contact
    # Not reached: the locked attempt cannot lose the version check.
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "The contact changes too often")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPublic,
    responses=with_etag(201, "The contact, created") | CONTACT_CONFLICT | INVALID_CONTACT,
)
async def create_contact(
    contact_in: ContactCreate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> Contact:
    """Add a contact to your address book."""
    contact = Contact.model_validate(
        contact_in.model_dump(exclude={"labels"}), update={"owner_id": user.id}
    )
    async with unique_or_409(session, EMAIL_TAKEN):
        found = await find_or_create_labels(session, user.id, contact_in.labels)  # type: ignore[arg-type]
        session.add(contact)
        await session.flush()
        names = await give_labels(session, contact.id, found)  # type: ignore[arg-type]
        await session.commit()
    set_committed_value(contact, "labels", names)
    # A path, not a URL built from the Host header, which the client chooses.
    response.headers["Location"] = request.url_for("read_contact", contact_id=contact.id).path
    response.headers["ETag"] = etag(contact)
    return contact


def _optional_text(value: str | None) -> str | None:
    # Tabs and line breaks are white space, which `q` is split on and filters are trimmed of.
    return None if value is None else no_control_characters(value, allowed="\t\r\n")


SearchText = Annotated[str | None, AfterValidator(_optional_text)]


def contains_text(column: Any, text: str) -> ColumnElement[bool]:
    # `autoescape` makes %, _ and the escape character literal, never wildcards.
    return col(column).icontains(text, autoescape=True)


@router.get(
    "",
    response_model=ContactPage,
    responses=LIMIT_TOO_LARGE,
)
async def read_contacts(
    claims: TokenClaims,
    q: Annotated[
        SearchText,
        Query(
            max_length=200,
            description="Words that must each appear in the first name, last name or email.",
            examples=["ann smi"],
        ),
    ] = None,
    first_name: Annotated[SearchText, Query(max_length=50)] = None,
    last_name: Annotated[SearchText, Query(max_length=50)] = None,
    email: Annotated[SearchText, Query(max_length=254)] = None,
    label: Annotated[
        SearchText,
        Query(
            max_length=200,
            description="Only contacts with this label (its name, case aside).",
            examples=["Family"],
        ),
    ] = None,
    favorite: Annotated[
        bool | None, Query(description="Only favourites (`true`) or only the others (`false`).")
    ] = None,
    limit: PageLimit = 20,
    offset: PageOffset = 0,
) -> Response:
    """List your contacts, optionally searched and filtered, a page at a time."""
    filters = []
    if favorite is not None:
        filters.append(col(Contact.favorite) == favorite)
    if label and label.strip():
        with_label = (
            sql_select(col(ContactLabel.contact_id))
            .join(Label, col(Label.id) == col(ContactLabel.label_id))
            .where(
                col(Label.owner_id) == bindparam("user_id"),
                col(Label.name_key) == label_key(label),
            )
        )
        filters.append(col(Contact.id).in_(with_label))
    for word in (q or "").split():
        filters.append(
            or_(
                contains_text(Contact.first_name, word),
                contains_text(Contact.last_name, word),
                contains_text(Contact.email, word),
            )
        )
    for column, value in (
        (Contact.first_name, first_name),
        (Contact.last_name, last_name),
        (Contact.email, email),
    ):
        if value and value.strip():
            filters.append(contains_text(column, value.strip()))
    page, count = book_page(filters) if filters else (BOOK_PAGE, BOOK_COUNT)
    parameters = session_parameters(claims) | {"limit": limit, "offset": offset}
    # A connection of its own, given back before the answer is written (see
    # deps.get_owned_contact_row).
    async with read_engine.connect() as connection:
        rows = (await first_statement(connection, page, parameters)).all()
        if rows:
            total = rows[0][-1]
        else:
            await session_user_id(connection, claims)  # a closed session: 401, not an empty page
            # A page past the end still says how many there are.
            total = 0 if offset == 0 else (await connection.execute(count, parameters)).scalar_one()
    items = [dict(zip(PUBLIC_FIELDS, values, strict=True)) for *values, _ in rows]
    # Written out here from the rows, which hold the database's values of checked columns:
    # FastAPI would build and check a ContactPage of 20 models first, 0.15 ms of list 20's
    # 1.1 ms of CPU (in-process). `response_model` above still documents the shape.
    page_out = {"items": items, "total": total, "limit": limit, "offset": offset}
    return Response(to_json(page_out), media_type="application/json")


def book_page(filters: list[ColumnElement[bool]]) -> tuple[Select[Any], Select[Any]]:
    """A page of the user's book that passes `filters`, sorted by name, and the count of all
    that pass them.

    The count rides along with the page as a subquery, which PostgreSQL runs once, and the
    check that the token's session is open as a join, as for one contact: one round trip in
    all. Rows of the public columns, not entities, as for birthdays. The user, the session and
    the page come in as parameters (`user_id`, `session_id`, `now`, `limit`, `offset`).
    """
    matches = [col(Contact.owner_id) == bindparam("user_id"), IN_THE_BOOK, *filters]
    count = sql_select(func.count()).select_from(Contact).where(*matches)
    page = (
        sql_select(*PUBLIC_COLUMNS, count.scalar_subquery())
        .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
        .where(*matches, session_is_open())
        .order_by(col(Contact.last_name), col(Contact.first_name), col(Contact.id))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return page, count


# The statements of a list without filters, built once: building them again for every request
# took 0.6 ms of CPU, more than the rest of list 20 (1.6 -> 0.95 ms, in-process).
BOOK_PAGE, BOOK_COUNT = book_page([])


def birthday_window(today: date, days: int) -> tuple[ColumnElement[bool], ColumnElement[int]]:
    """The filter for birthdays in `[today, today + days]`, and a key to sort them.

    Both work on `Contact.birthday_key` (month * 100 + day), which the database indexes. The
    sort key is `years_ahead * 10000 + month * 100 + day` of the next birthday, so that
    `next_birthday` and `days_until` follow from it without loading anything else.
    """
    end = today + timedelta(days=days)
    key = col(Contact.birthday_key)
    # One key range per calendar year the window touches (366 days from 31 December touch
    # three years).
    conditions = []
    start = today
    while start <= end:
        year_end = min(end, date(start.year, 12, 31))
        low, high = birthday_key(start), birthday_key(year_end)
        # In a common year a 29 February birthday is on 28 February.
        if high == 228 and not isleap(start.year):
            high = 229
        conditions.append(key.between(low, high))
        start = year_end + timedelta(days=1)

    this_year = key >= birthday_key(today)
    moved_to_feb_28 = [
        (and_(key == 229, this_year if years_ahead == 0 else ~this_year), 228)
        for years_ahead in (0, 1)
        if not isleap(today.year + years_ahead)
    ]
    month_day = case(*moved_to_feb_28, else_=key) if moved_to_feb_28 else key
    sort_key = case((this_year, literal(0)), else_=literal(10000)) + month_day
    return or_(*conditions), sort_key


# Declared before `/{contact_id:id}`, so that the two never compete for a path.
@router.get(
    "/birthdays",
    response_model=list[ContactBirthday],
    responses=invalid("query", "tz", "value_error", f"Value error, {UNKNOWN_TIME_ZONE}"),
)
async def read_upcoming_birthdays(
    claims: TokenClaims,
    today: Today,
    days: Annotated[
        int, Query(ge=0, le=366, description="How many days after today the window reaches.")
    ] = 7,
) -> Response:
    """Your contacts whose next birthday falls between today and `days` days after it."""
    in_window, sort_key = birthday_window(today, days)
    # Rows of the public columns, not ORM entities: a week of birthdays in a book of 100,000 is
    # about 2,250 contacts, and loading entities for them cost more than the query.
    async with read_engine.connect() as connection:
        user_id = await session_user_id(connection, claims)
        result = await connection.execute(
            sql_select(*PUBLIC_COLUMNS, sort_key)
            .where(col(Contact.owner_id) == user_id, IN_THE_BOOK, in_window)
            .order_by(sort_key, col(Contact.last_name), col(Contact.first_name), col(Contact.id))
        )
        rows = result.all()
    upcoming = []
    for *values, key in rows:
        next_birthday = date(today.year + key // 10000, key // 100 % 100, key % 100)
        contact = dict(zip(PUBLIC_FIELDS, values, strict=True))
        contact["next_birthday"] = next_birthday
        contact["days_until"] = (next_birthday - today).days
        upcoming.append(contact)
    # Written out as they are, like a page of the book: FastAPI's check of 2,250 dicts against
    # ContactBirthday, which runs SQLModel's Python for each, was half of this route's CPU
    # (39 -> 20 ms for a week of the 100,000-contact book, in-process).
    return Response(to_json(upcoming), media_type="application/json")


# --- One contact -------------------------------------------------------------------------
# Before the trash, though `/trash` is a fixed path: the router tries the routes in the order
# they are declared, these are the busiest, and `{contact_id:id}` takes digits only, so it
# never matches `/trash` (nor `/birthdays`).


@router.get(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact") | NOT_MODIFIED | NOT_FOUND,
)
async def read_contact(contact: OwnedContactRow, if_none_match: IfNoneMatch = None) -> Response:
    """One of your contacts, with its ETag; 304 if `If-None-Match` holds that ETag."""
    tag = etag(contact)
    if if_none_match is not None and if_none_match_holds(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    # The row straight into the public model, written out here: FastAPI's response
    # validation and serialisation of a returned model cost 4 % of GET one's req/s (1,046 ->
    # 1,086 in one run). `response_model` above still documents the shape.
    public = ContactPublic(**dict(zip(PUBLIC_FIELDS, contact, strict=False)))
    return Response(public.model_dump_json(), media_type="application/json", headers={"ETag": tag})


@router.put(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact, replaced")
    | NOT_FOUND
    | CONTACT_CONFLICT
    | PRECONDITION_FAILED
    | INVALID_CONTACT,
)
async def replace_contact(
    contact: OwnedContact,
    contact_in: ContactCreate,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> Contact:
    """Replace every field of a contact; an omitted `notes` becomes null, `favorite` false,
    `labels` empty."""
    changes = contact_in.model_dump(exclude={"labels"})
    contact = await write_contact(session, contact, changes, contact_in.labels, if_match)
    response.headers["ETag"] = etag(contact)
    return contact


@router.patch(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact, changed")
    | NOT_FOUND
    | CONTACT_CONFLICT
    | PRECONDITION_FAILED
    | invalid("body", "email", "value_error", "Value error, may be omitted but not null"),
)
async def update_contact(
    contact: OwnedContact,
    contact_in: ContactUpdate,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> Contact:
    """Change only the fields you send."""
    changes = contact_in.model_dump(exclude_unset=True, exclude={"labels"})
    labels = contact_in.labels if "labels" in contact_in.model_fields_set else None
    contact = await write_contact(session, contact, changes, labels, if_match)
    response.headers["ETag"] = etag(contact)
    return contact


@router.delete(
    "/{contact_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND | PRECONDITION_FAILED,
)
async def delete_contact(
    contact: OwnedContact, session: SessionDep, if_match: IfMatch = None
) -> None:
    """Move a contact to the trash (restore it from there, or it goes after
    `TRASH_RETENTION_DAYS`)."""
    if if_match is not None and not if_match_holds(if_match, etag(contact)):
        raise precondition_failed()
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


# --- The trash --------------------------------------------------------------------------


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
    responses=with_etag(200, "The contact, back in your book as it was")
    | TRASH_NOT_FOUND
    | RESTORE_CONFLICT,
)
async def restore_contact(
    contact: TrashedContact, session: SessionDep, response: Response
) -> Contact:
    """Bring a contact back from the trash into your book, as it was."""
    labels = contact.labels
    contact.deleted_at = None
    session.add(contact)
    try:
        # `WHERE version = ...`: of two restores (or a restore and a purge), one finds it.
        async with unique_or_409(session, "A contact in your book has this email now"):
            await session.commit()
    except StaleDataError:
        await session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found in your trash") from None
    set_committed_value(contact, "labels", labels)
    response.headers["ETag"] = etag(contact)
    return contact


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
