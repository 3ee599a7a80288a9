"""Birthdays: your contacts whose next birthday falls in the coming days."""

from calendar import isleap
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    true,
)
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col

from contacts_api.contact_writes import IN_THE_BOOK
from contacts_api.db import read_engine
from contacts_api.deps import (
    PUBLIC_COLUMNS,
    PUBLIC_FIELDS,
    Today,
    TokenClaims,
    public_json_columns,
    session_user_id,
)
from contacts_api.docs import UNAUTHORIZED, invalid
from contacts_api.models import (
    UNKNOWN_TIME_ZONE,
    Contact,
    ContactBirthday,
    birthday_key,
    birthday_parts,
)
from contacts_api.routes.contacts import BOOK_ORDER

router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)


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
    async with read_engine.connect() as connection:
        user_id = await session_user_id(connection, claims)
        matches = (col(Contact.owner_id) == user_id, IN_THE_BOOK, in_window)
        order = (sort_key, *BOOK_ORDER)
        if connection.dialect.name == "postgresql":
            # PostgreSQL writes the whole answer: a week of a 100,000-contact book is about
            # 2,200 contacts, and reading them as rows, making dicts and writing JSON in Python
            # cost 46 ms of CPU; this costs PostgreSQL about 20 (docs/performance.md).
            statement = birthdays_as_json(today, matches, order, sort_key)
            answer = (await connection.execute(statement)).scalar_one()
            return Response(answer, media_type="application/json")
        rows = (
            await connection.execute(
                sql_select(*PUBLIC_COLUMNS, sort_key).where(*matches).order_by(*order)
            )
        ).all()
    upcoming = []
    for *values, key in rows:
        contact = dict(zip(PUBLIC_FIELDS, values, strict=True))
        next_birthday = date(today.year + key // 10000, key // 100 % 100, key % 100)
        born = birthday_parts(contact["birthday"])[2]
        contact |= {
            "next_birthday": next_birthday,
            "days_until": (next_birthday - today).days,
            "age": None if born is None else next_birthday.year - born,
        }
        upcoming.append(contact)
    # Written out as they are, like a page of the book: FastAPI's check of 2,250 dicts against
    # ContactBirthday, which runs SQLModel's Python for each, was half of this route's CPU
    # (39 -> 20 ms for a week of the 100,000-contact book, in-process).
    return Response(to_json(upcoming), media_type="application/json")


def birthdays_as_json(
    today: date,
    matches: tuple[ColumnElement[bool], ...],
    order: tuple[Any, ...],
    sort_key: ColumnElement[int],
) -> Select[Any]:
    """The answer of the birthdays route as one JSON text that PostgreSQL writes: each
    contact's fields as the API writes them (`row_to_json` of a row named like them), in
    the list's order."""
    columns = public_json_columns()
    year = today.year + sort_key // 10000
    next_birthday = func.make_date(year, sort_key // 100 % 100, sort_key % 100)
    columns |= {
        "next_birthday": next_birthday,
        "days_until": next_birthday - today,
        "age": case(
            (col(Contact.birthday).startswith("--"), None),
            else_=year - cast(func.substr(col(Contact.birthday), 1, 4), Integer),
        ),
    }
    contact = (
        sql_select(*(value.label(name) for name, value in columns.items()))
        .correlate(Contact)
        .lateral("c")
    )
    every = func.string_agg(
        func.row_to_json(literal_column("c")).cast(Text),
        aggregate_order_by(literal_column("','"), *order),
    )
    return (
        sql_select(literal("[") + func.coalesce(every, "") + literal("]"))
        .select_from(Contact)
        .join(contact, true())
        .where(*matches)
    )
