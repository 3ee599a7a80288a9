"""Dependencies that carry the cross-cutting rules: the session, who is asking, what they own."""

from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator
from sqlalchemy import ColumnElement, and_, bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.db import get_session
from contacts_api.models import MAX_ID, AuthSession, Contact, User, utc_now
from contacts_api.security import InvalidToken, read_token

SessionDep = Annotated[AsyncSession, Depends(get_session)]

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
def _session_is_open() -> ColumnElement[bool]:
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
    .where(_session_is_open())
)
# The session check and the contact in one query: the one round trip of GET, PUT, PATCH and
# DELETE of a contact. Joining on owner_id is also what hides other users' contacts.
OWNED_CONTACT = (
    select(Contact)
    .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
    .where(col(Contact.id) == bindparam("contact_id"), _session_is_open())
)


def session_parameters(claims: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": claims["sid"], "user_id": int(claims["sub"]), "now": utc_now()}


async def get_current_user(session: SessionDep, claims: TokenClaims) -> User:
    """The user of a valid access token whose session has not been revoked."""
    # Checking the session on every request is what makes logout end access tokens at once.
    user = (await session.exec(CURRENT_USER, params=session_parameters(claims))).first()
    if user is None:
        raise unauthorized("Invalid or expired access token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_owned_contact(contact_id: int, claims: TokenClaims, session: SessionDep) -> Contact:
    """The contact `contact_id` if it is the user's; anybody else's does not exist (404)."""
    contact = None
    # Ids beyond the column's range cannot exist; asking the database would be an error.
    if 1 <= contact_id <= MAX_ID:
        parameters = session_parameters(claims) | {"contact_id": contact_id}
        contact = (await session.exec(OWNED_CONTACT, params=parameters)).first()
    if contact is None:
        await get_current_user(session, claims)  # a closed session is a 401, not a 404
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")
    return contact


OwnedContact = Annotated[Contact, Depends(get_owned_contact)]


# `async def`, though they await nothing: FastAPI would run a plain `def` dependency in the
# threadpool, a thread hop per request for a clock reading.
async def get_now() -> datetime:
    """The current instant; tests override this dependency to pin the date."""
    return datetime.now(UTC)


# The IANA names, as the tzdata package lists them (the system's zone folder also holds
# files such as "localtime" that are no zone names). Not an enum in the docs: 600 names
# weigh down the document, and generated clients cannot name "GMT+0" and "GMT-0" apart.
KNOWN_TIME_ZONES = frozenset(files("tzdata").joinpath("zones").read_text().split())


UNKNOWN_TIME_ZONE = "unknown time zone; use an IANA name such as Europe/Kyiv"


def _known_time_zone(name: str) -> str:
    if name not in KNOWN_TIME_ZONES:
        raise ValueError(UNKNOWN_TIME_ZONE)
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]


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
