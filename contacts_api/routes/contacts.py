"""Contacts: create, read, update, delete, search, and upcoming birthdays."""

from calendar import isleap
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AfterValidator
from sqlalchemy import ColumnElement, and_, case, func, literal, or_
from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from contacts_api.db import is_unique_violation
from contacts_api.deps import UNKNOWN_TIME_ZONE, CurrentUser, OwnedContact, SessionDep, Today
from contacts_api.docs import CONTACT_CONFLICT, INVALID_CONTACT, NOT_FOUND, UNAUTHORIZED, invalid
from contacts_api.models import (
    Contact,
    ContactBirthday,
    ContactCreate,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    birthday_key,
    no_control_characters,
    utc_now,
)


class IdConvertor(Convertor[int]):
    """A path segment of 1 to 10 digits: other paths are no contact's (404, before parsing
    a number of thousands of digits, which Python refuses)."""

    regex = "[0-9]{1,10}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())

# What a ContactPublic is made of, for queries that read rows instead of entities.
PUBLIC_COLUMNS = [col(getattr(Contact, name)) for name in ContactPublic.model_fields]

router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)


async def save(session: AsyncSession, contact: Contact) -> None:
    """Commit `contact`; an email already in the owner's book is a 409."""
    session.add(contact)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if not is_unique_violation(exc):
            raise
        raise HTTPException(
            status.HTTP_409_CONFLICT, "You already have a contact with this email"
        ) from None
    except StaleDataError:
        # The UPDATE found no row: a DELETE of the same contact committed in between.
        await session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPublic,
    responses=CONTACT_CONFLICT | INVALID_CONTACT,
)
async def create_contact(
    contact_in: ContactCreate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> Contact:
    """Add a contact to your address book."""
    contact = Contact.model_validate(contact_in, update={"owner_id": user.id})
    await save(session, contact)
    # A path, not a URL built from the Host header, which the client chooses.
    response.headers["Location"] = request.url_for("read_contact", contact_id=contact.id).path
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
    responses=invalid(
        "query", "limit", "less_than_equal", "Input should be less than or equal to 100", le=100
    ),
)
async def read_contacts(
    user: CurrentUser,
    session: SessionDep,
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
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ContactPage:
    """List your contacts, optionally searched, a page at a time."""
    matches = [col(Contact.owner_id) == user.id]
    for word in (q or "").split():
        matches.append(
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
            matches.append(contains_text(column, value.strip()))
    count = sql_select(func.count()).select_from(Contact).where(*matches)
    # The count rides along with the page as a subquery, which PostgreSQL runs once: one round
    # trip instead of two. Rows of the public columns, not entities, as for birthdays.
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sql_select(*PUBLIC_COLUMNS, count.scalar_subquery())
            .where(*matches)
            .order_by(col(Contact.last_name), col(Contact.first_name), col(Contact.id))
            .limit(limit)
            .offset(offset)
        )
    ).all()
    if rows:
        total = rows[0][-1]
    elif offset == 0:
        total = 0
    else:  # a page past the end still says how many there are
        total = (await session.exec(count)).scalar_one()  # type: ignore[call-overload]
    return ContactPage(
        items=[
            ContactPublic(**dict(zip(ContactPublic.model_fields, values, strict=True)))
            for *values, _ in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


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
    user: CurrentUser,
    session: SessionDep,
    today: Today,
    days: Annotated[
        int, Query(ge=0, le=366, description="How many days after today the window reaches.")
    ] = 7,
) -> list[dict[str, Any]]:
    """Your contacts whose next birthday falls between today and `days` days after it."""
    in_window, sort_key = birthday_window(today, days)
    # Rows of the public columns through the session's connection, not ORM entities: a week of
    # birthdays in a book of 100,000 is about 2,250 contacts, and loading entities for them cost
    # more than the query.
    connection = await session.connection()
    rows = await connection.execute(
        sql_select(*PUBLIC_COLUMNS, sort_key)
        .where(col(Contact.owner_id) == user.id, in_window)
        .order_by(sort_key, col(Contact.last_name), col(Contact.first_name), col(Contact.id))
    )
    upcoming = []
    for *values, key in rows:
        next_birthday = date(today.year + key // 10000, key // 100 % 100, key % 100)
        upcoming.append(
            dict(zip(ContactPublic.model_fields, values, strict=True))
            | {"next_birthday": next_birthday, "days_until": (next_birthday - today).days}
        )
    # FastAPI validates the dicts against ContactBirthday once, on the way out (in pydantic's
    # compiled core: model_construct for each, in Python, took twice as long).
    return upcoming


@router.get("/{contact_id:id}", response_model=ContactPublic, responses=NOT_FOUND)
async def read_contact(contact: OwnedContact) -> Contact:
    """One of your contacts."""
    return contact


@router.put(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=NOT_FOUND | CONTACT_CONFLICT | INVALID_CONTACT,
)
async def replace_contact(
    contact: OwnedContact, contact_in: ContactCreate, session: SessionDep
) -> Contact:
    """Replace every field of a contact; an omitted `notes` becomes null."""
    contact.sqlmodel_update(contact_in.model_dump())
    contact.updated_at = utc_now()
    await save(session, contact)
    return contact


@router.patch(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=NOT_FOUND
    | CONTACT_CONFLICT
    | invalid("body", "email", "value_error", "Value error, may be omitted but not null"),
)
async def update_contact(
    contact: OwnedContact, contact_in: ContactUpdate, session: SessionDep
) -> Contact:
    """Change only the fields you send."""
    contact.sqlmodel_update(contact_in.model_dump(exclude_unset=True))
    contact.updated_at = utc_now()
    await save(session, contact)
    return contact


@router.delete("/{contact_id:id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_contact(contact: OwnedContact, session: SessionDep) -> None:
    """Delete a contact."""
    # A DELETE statement, not session.delete(): of two concurrent deletes, the one that
    # finds no row left answers 404 instead of a second 204.
    deleted = await session.exec(delete(Contact).where(col(Contact.id) == contact.id))
    await session.commit()
    if deleted.rowcount == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")
