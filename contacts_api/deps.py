"""Dependencies that carry the cross-cutting rules: the session, who is asking, what they own."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, HTTPException, Query, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import (
    ColumnElement,
    Executable,
    Row,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
)
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from contacts_api.db import get_session, read_engine
from contacts_api.models import (
    MAX_ID,
    AuthSession,
    Contact,
    ContactLabel,
    ContactPublic,
    Label,
    TimeZoneName,
    User,
    public_columns,
    utc_now,
)
from contacts_api.security import InvalidToken, read_token

SessionDep = Annotated[AsyncSession, Depends(get_session)]


class IdConvertor(Convertor[int]):
    """A path segment of 1 to 10 digits (`{contact_id:id}`, `{label_id:id}`): other paths are
    no contact's or label's (404, before parsing a number of thousands of digits, which Python
    refuses)."""

    regex = "[0-9]{1,10}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())

# Swagger UI's Authorize button logs in through this URL with the password grant.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def unauthorized(detail: str) -> HTTPException:
    # RFC 6750 §3: every 401 names the scheme the client should use.
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


# `async def` for a few microseconds of HMAC: a plain `def` would cost a hop to the threadpool
# and back on every authenticated request.
async def get_token_claims(
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> dict[str, Any]:
    """The claims of a valid access token (its session is checked with the query that
    needs it)."""
    if not token:
        raise unauthorized("Not authenticated")
    try:
        return read_token(token, "access")
    except InvalidToken:
        raise unauthorized("Invalid or expired access token") from None


TokenClaims = Annotated[dict[str, Any], Depends(get_token_claims)]


# The queries of every authenticated request, built once: building a select with its joins and
# conditions took about 0.3 ms of CPU per request. The token's values go in as parameters.
def session_is_open() -> ColumnElement[bool]:
    """The token's session row exists, is the user's, has not been revoked nor expired."""
    return and_(
        col(AuthSession.id) == bindparam("session_id"),
        col(AuthSession.user_id) == bindparam("user_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > bindparam("now"),
    )


CURRENT_USER = (
    select(User)
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(session_is_open())
)
# The session check and the contact in one query: the one round trip of GET, PUT, PATCH and
# DELETE of a contact. Joining on owner_id is also what hides other users' contacts.
# A trashed contact is in no book: the same query with `deleted_at IS NULL` is what makes it
# 404 on every route of the book (its labels come along, in the same SELECT).
OWNED_CONTACT = (
    select(Contact)
    .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
    .where(
        col(Contact.id) == bindparam("contact_id"),
        col(Contact.deleted_at).is_(None),
        session_is_open(),
    )
)
# What a ContactPublic is made of, for queries that read rows instead of entities (`labels`
# is the correlated subquery of the models), and the names of those columns in the JSON.
PUBLIC_FIELDS = tuple(ContactPublic.model_fields)
_TABLE_COLUMNS = public_columns()
PUBLIC_COLUMNS = [
    _TABLE_COLUMNS[name] if name in _TABLE_COLUMNS else col(getattr(Contact, name))
    for name in PUBLIC_FIELDS
]


def json_timestamp(column: Any) -> ColumnElement[str]:
    """A timestamp as the API writes it: UTC, microseconds unless there are none, "Z"."""
    text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return func.replace(text, ".000000Z", "Z")


def public_json_columns() -> dict[str, Any]:
    """The columns of ContactPublic as PostgreSQL's `row_to_json` should write them, by name:
    the same text as the API's own JSON (timestamps, the labels' names in their order)."""
    columns: dict[str, Any] = dict(zip(PUBLIC_FIELDS, PUBLIC_COLUMNS, strict=True))
    columns["created_at"] = json_timestamp(col(Contact.created_at))
    columns["updated_at"] = json_timestamp(col(Contact.updated_at))
    # The names in the order of `label_order`, compared code point by code point. The
    # aggregate runs only for a contact that has labels: a probe of the pairs' primary key is
    # cheaper than an empty join and aggregate (24.6 against 27.6 ms of PostgreSQL's CPU for a
    # week of the bench's 100,000 contacts, none labelled; docs/performance.md).
    of_this_contact = col(ContactLabel.contact_id) == col(Contact.id)
    names = (
        sql_select(
            func.json_agg(
                aggregate_order_by(
                    col(Label.name),
                    col(Label.sort_key).collate("C"),
                    col(Label.name_key).collate("C"),
                )
            )
        )
        .join_from(ContactLabel, Label, col(ContactLabel.label_id) == col(Label.id))
        .where(of_this_contact)
        .correlate(Contact)
        .scalar_subquery()
    )
    has_labels = exists().where(of_this_contact).correlate(Contact)
    columns["labels"] = case((has_labels, names), else_=literal_column("'[]'::json"))
    return columns


# GET of one contact: the same query, as a row of the public columns and the version (for the
# ETag) on the session's connection: no entity, no identity map, no ORM compilation.
OWNED_CONTACT_ROW = (
    sql_select(*PUBLIC_COLUMNS, col(Contact.version))
    .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
    .where(
        col(Contact.id) == bindparam("contact_id"),
        col(Contact.deleted_at).is_(None),
        session_is_open(),
    )
)
# Whether the token's session is open, for routes that read rows and find none.
SESSION_USER_ID = sql_select(col(AuthSession.user_id)).where(session_is_open())
# The trash's own routes find a contact there, and only there.
TRASHED_CONTACT = (
    select(Contact)
    .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
    .where(
        col(Contact.id) == bindparam("contact_id"),
        col(Contact.deleted_at).is_not(None),
        session_is_open(),
    )
)
OWNED_LABEL = (
    select(Label)
    .join(AuthSession, col(AuthSession.user_id) == col(Label.owner_id))
    .where(col(Label.id) == bindparam("label_id"), session_is_open())
)


def session_parameters(claims: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": claims["sid"], "user_id": int(claims["sub"]), "now": utc_now()}


async def first_statement(
    session: AsyncSession | AsyncConnection, statement: Executable, params: dict[str, Any]
) -> Any:
    """The result of the request's first statement, run once more if the pooled connection it
    got was dead (the database restarted since it was last used).

    The pool does not ping a connection before handing it out (see db.py); SQLAlchemy
    recognises the disconnect, invalidates the connection and every one pooled before it, so
    the second attempt runs on a new connection. Nothing was read or written before, so the
    retry is safe for writes too; a database that is still down fails it as well: a 503.
    On a session, the statement's entities come out; on a connection, rows.
    """
    for attempt in (1, 2):
        try:
            if isinstance(session, AsyncConnection):
                return await session.execute(statement, params)
            return await session.exec(statement, params=params)  # type: ignore[call-overload]
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
            await session.rollback()
    raise AssertionError("not reached")


async def get_current_user(session: SessionDep, claims: TokenClaims) -> User:
    """The user of a valid access token whose session has not been revoked."""
    # Checking the session on every request is what makes logout end access tokens at once.
    user: User | None = (
        await first_statement(session, CURRENT_USER, session_parameters(claims))
    ).first()
    if user is None:
        raise unauthorized("Invalid or expired access token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def session_user_id(connection: AsyncConnection, claims: dict[str, Any]) -> int:
    """The rule of `get_current_user` for routes that read rows on a connection of their own:
    the id of the token's user while its session is open, else a 401."""
    row = (await first_statement(connection, SESSION_USER_ID, session_parameters(claims))).first()
    if row is None:
        raise unauthorized("Invalid or expired access token")
    return int(row.user_id)


async def get_owned_contact(contact_id: int, claims: TokenClaims, session: SessionDep) -> Contact:
    """The contact `contact_id` if it is the user's; anybody else's does not exist (404)."""
    contact: Contact | None = None
    # Ids beyond the column's range cannot exist; asking the database would be an error.
    if 1 <= contact_id <= MAX_ID:
        parameters = session_parameters(claims) | {"contact_id": contact_id}
        contact = (await first_statement(session, OWNED_CONTACT, parameters)).first()
    if contact is None:
        await get_current_user(session, claims)  # a closed session is a 401, not a 404
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")
    return contact


OwnedContact = Annotated[Contact, Depends(get_owned_contact)]


async def get_owned_contact_row(contact_id: int, claims: TokenClaims) -> Row[Any]:
    """The same rule as `get_owned_contact`, for GET: the contact's public columns and version
    as a row, not an entity, on a connection, not in a session.

    The connection is taken here and given back before the answer is written, not by a
    dependency that yields it: FastAPI's exit from a yielding dependency (an exit stack and a
    shielded cancel scope) cost a tenth of GET one's CPU (0.86 -> 0.77 ms, in-process).
    """
    row: Row[Any] | None = None
    parameters = session_parameters(claims)
    async with read_engine.connect() as connection:
        if 1 <= contact_id <= MAX_ID:
            parameters["contact_id"] = contact_id
            row = (await first_statement(connection, OWNED_CONTACT_ROW, parameters)).first()
        if row is None:
            await session_user_id(connection, claims)  # a closed session: 401, not 404
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")
    return row


OwnedContactRow = Annotated[Row[Any], Depends(get_owned_contact_row)]


async def get_trashed_contact(contact_id: int, claims: TokenClaims, session: SessionDep) -> Contact:
    """The contact `contact_id` if it is in the user's trash; else 404."""
    contact: Contact | None = None
    if 1 <= contact_id <= MAX_ID:
        parameters = session_parameters(claims) | {"contact_id": contact_id}
        contact = (await first_statement(session, TRASHED_CONTACT, parameters)).first()
    if contact is None:
        await get_current_user(session, claims)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found in your trash")
    return contact


TrashedContact = Annotated[Contact, Depends(get_trashed_contact)]


async def get_owned_label(label_id: int, claims: TokenClaims, session: SessionDep) -> Label:
    """The label `label_id` if it is the user's; anybody else's does not exist (404)."""
    label: Label | None = None
    if 1 <= label_id <= MAX_ID:
        parameters = session_parameters(claims) | {"label_id": label_id}
        label = (await first_statement(session, OWNED_LABEL, parameters)).first()
    if label is None:
        await get_current_user(session, claims)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Label not found")
    return label


OwnedLabel = Annotated[Label, Depends(get_owned_label)]


# `async def`, though they await nothing: FastAPI would run a plain `def` dependency in the
# threadpool, a thread hop per request for a clock reading.
async def get_now() -> datetime:
    """The current instant; tests override this dependency to pin the date."""
    return datetime.now(UTC)


async def get_today(
    now: Annotated[datetime, Depends(get_now)],
    tz: Annotated[
        TimeZoneName,
        Query(
            max_length=64,
            description="IANA time zone that decides what 'today' is.",
            examples=["Europe/Kyiv"],
        ),
    ] = "UTC",
) -> date:
    """Today's date in time zone `tz`."""
    return now.astimezone(ZoneInfo(tz)).date()


Today = Annotated[date, Depends(get_today)]


# --- Conditional requests (ETags) ------------------------------------------------------------

# An entity-tag (RFC 9110 §8.8.3): an optional W/ and a quoted string; a header holds a list
# of them. A header that is no such list names no tag at all.
ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')
TAG_LIST = re.compile(r'\s*(?:W/)?"[^"]*"\s*(?:,\s*(?:W/)?"[^"]*"\s*)*')


def _tags(header: str) -> list[tuple[str, str]]:
    return ENTITY_TAG.findall(header) if TAG_LIST.fullmatch(header) else []


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Write only if the contact's ETag is still this one (else 412); `*` for "
        "any version.",
        examples=['"42.3"'],
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="The ETag you hold: 304 without a body while it is still the current one.",
        examples=['"42.3"'],
    ),
]


def if_match_holds(header: str, current: str) -> bool:
    """Whether `If-Match: header` holds for the current ETag: a strong comparison, so a weak
    tag never matches (RFC 9110 §13.1.1)."""
    if header.strip() == "*":
        return True
    return any(not weak and tag == current for weak, tag in _tags(header))


def if_none_match_holds(header: str, current: str) -> bool:
    """Whether `If-None-Match: header` names the current ETag: a weak comparison
    (RFC 9110 §13.1.2), so `W/"42.3"` names `"42.3"` too."""
    if header.strip() == "*":
        return True
    return any(tag == current for _, tag in _tags(header))
