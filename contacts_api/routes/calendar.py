"""The birthday calendar: a secret address that calendar programs subscribe to.

The address is made (and replaced, and revoked) under /api with a Bearer token; the calendar
itself is served outside /api, to programs that send no token: the secret in its path is the
key. Only a hash of the secret is stored (models/calendars.py).
"""

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Response, status
from sqlalchemy import and_, bindparam
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.concurrency import run_in_threadpool

from contacts_api.birthday_calendar import (
    BirthdayRow,
    birthday_calendar,
    calendar_etag,
    calendar_secret_hash,
    new_calendar_secret,
)
from contacts_api.config import get_settings
from contacts_api.db import engine, read_engine
from contacts_api.deps import (
    CurrentUser,
    IfNoneMatch,
    SessionDep,
    TokenClaims,
    first_statement,
    if_none_match_holds,
    session_is_open,
    session_parameters,
    unauthorized,
)
from contacts_api.docs import UNAUTHORIZED, Responses, error
from contacts_api.models import (
    IN_THE_BOOK,
    AuthSession,
    BirthdayCalendar,
    BirthdayCalendarUrl,
    Contact,
    UTCDateTime,
    utc_now,
)

settings = get_settings()

TAG = "birthday calendar"
router = APIRouter(prefix="/users/me/birthday-calendar", tags=[TAG], responses=UNAUTHORIZED)
# Outside /api, with no token: mounted at the top like the account pages.
feed_router = APIRouter(tags=[TAG])

FEED_PATH = "/calendars/birthdays/{secret}.ics"
# What new_calendar_secret makes: any other path names no calendar, and is answered like an
# unknown secret without asking the database.
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
# The events' UIDs end with the service's own name (RFC 5545 §3.8.4.7 suggests a domain).
DOMAIN = urlsplit(settings.PUBLIC_URL).hostname or "localhost"


def feed_url(secret: str) -> str:
    return settings.PUBLIC_URL + FEED_PATH.format(secret=secret)


# A new secret for the user of the token, replacing theirs, in one statement. The row is made
# from the token's session, locked while it is written: a logout-all, password change or reset
# that revokes the session first leaves this with nothing to insert (401), and one that comes
# after finds the new row and revokes it too. Either way no calendar outlives the revocation.
_insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(
    BirthdayCalendar
)
NEW_SECRET = (
    _insert.from_select(
        ["user_id", "secret_hash", "created_at"],
        sql_select(
            col(AuthSession.user_id),
            bindparam("new_secret_hash"),
            bindparam("made_at", type_=UTCDateTime()),
        )
        .where(session_is_open())
        .with_for_update(read=True),
    )
    .on_conflict_do_update(
        index_elements=["user_id"],
        set_={
            "secret_hash": _insert.excluded.secret_hash,
            "created_at": _insert.excluded.created_at,
        },
    )
    .returning(col(BirthdayCalendar.user_id))
)

# The calendar of a secret and the contacts it shows, in one round trip: the book (not the
# trash) of the calendar's user, those with a birthday (by the birthday index), in id order so
# the same book gives the same text. An outer join: a calendar with no birthdays is one row of
# NULLs, an unknown secret no row at all.
FEED = (
    sql_select(
        col(BirthdayCalendar.user_id),
        col(Contact.id),
        col(Contact.first_name),
        col(Contact.last_name),
        col(Contact.company),
        col(Contact.birthday),
        col(Contact.updated_at),
    )
    .select_from(BirthdayCalendar)
    .outerjoin(
        Contact,
        and_(
            col(Contact.owner_id) == col(BirthdayCalendar.user_id),
            IN_THE_BOOK,
            col(Contact.birthday_key).is_not(None),
        ),
    )
    .where(col(BirthdayCalendar.secret_hash) == bindparam("secret_hash"))
    .order_by(col(Contact.id))
)


async def revoke_birthday_calendar(session: AsyncSession, user_id: int | None) -> None:
    """Make the address of the user's birthday calendar stop working, and commit."""
    await session.exec(delete(BirthdayCalendar).where(col(BirthdayCalendar.user_id) == user_id))
    await session.commit()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BirthdayCalendarUrl,
    responses={201: {"headers": {"Location": {"description": "The same address"}}}},
)
async def create_birthday_calendar(
    claims: TokenClaims, session: SessionDep, response: Response
) -> BirthdayCalendarUrl:
    """Make a secret address of your birthday calendar for calendar programs to subscribe to;
    the address you had before stops working."""
    secret = new_calendar_secret()
    parameters = session_parameters(claims) | {
        "new_secret_hash": calendar_secret_hash(secret),
        "made_at": utc_now(),
    }
    # On the session's connection: a Core statement with parameters, not an ORM bulk insert.
    made = (await first_statement(await session.connection(), NEW_SECRET, parameters)).first()
    await session.commit()
    if made is None:  # the session is no longer open
        raise unauthorized("Invalid or expired access token")
    url = feed_url(secret)
    response.headers["Location"] = url
    return BirthdayCalendarUrl(url=url)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_birthday_calendar(user: CurrentUser, session: SessionDep) -> None:
    """Make the address of your birthday calendar stop working (none is fine too)."""
    await revoke_birthday_calendar(session, user.id)


CALENDAR_NOT_FOUND = "Calendar not found"
EXAMPLE_CALENDAR = birthday_calendar(
    [
        BirthdayRow(7, "Ann", "Smith", None, "1990-04-15", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
        BirthdayRow(9, None, None, "Acme Ltd", "--02-29", datetime(2026, 2, 1, 8, 0, tzinfo=UTC)),
    ],
    "contacts.example.com",
).decode()
CALENDAR: Responses = {
    200: {
        "description": "The calendar (iCalendar, RFC 5545): one all-day, yearly event for each "
        "contact of your book with a birthday",
        "headers": {
            "ETag": {
                "description": "The calendar's entity-tag, for `If-None-Match`",
                "schema": {"type": "string"},
            }
        },
        "content": {"text/calendar": {"schema": {"type": "string"}, "example": EXAMPLE_CALENDAR}},
    },
    304: {"description": "`If-None-Match` holds the current ETag: your copy is current"},
}
CALENDAR_RESPONSES = CALENDAR | error(
    404,
    "No calendar has this address: it never had one, or it was replaced or revoked",
    CALENDAR_NOT_FOUND,
)


@feed_router.get(FEED_PATH, response_class=Response, responses=CALENDAR_RESPONSES)
async def read_birthday_calendar(
    secret: Annotated[
        str,
        Path(
            description="The secret of the address that POST "
            "/api/users/me/birthday-calendar answered with.",
            examples=["Xq3Hh0bB0yI2t1ZtUoGf6i0Jm7sVQb1rY8cN5eKdLwA"],
        ),
    ],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The birthday calendar of the address's secret, for calendar programs: no token, the
    secret is the key."""
    rows = []
    if SECRET_SHAPE.fullmatch(secret):
        async with read_engine.connect() as connection:
            parameters = {"secret_hash": calendar_secret_hash(secret)}
            rows = (await first_statement(connection, FEED, parameters)).all()
    if not rows:  # an unknown secret, a replaced or a revoked one: the same answer
        raise HTTPException(status.HTTP_404_NOT_FOUND, CALENDAR_NOT_FOUND)
    contacts = [BirthdayRow(*row[1:]) for row in rows if row.id is not None]
    # Off the event loop: writing events nobody fetched before is CPU work (0.3 ms each).
    body = await run_in_threadpool(birthday_calendar, contacts, DOMAIN)
    # Calendar programs keep their own copy: they may store this one (not a shared cache: it
    # is personal), but ask again each time, with the ETag.
    headers = {"ETag": calendar_etag(body), "Cache-Control": "private, no-cache"}
    if if_none_match is not None and if_none_match_holds(if_none_match, headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type="text/calendar", headers=headers)
