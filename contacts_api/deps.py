"""Dependencies that carry the cross-cutting rules: the session, who is asking, what they own."""

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import Depends, HTTPException, Query, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.db import get_session
from contacts_api.models import MAX_ID, AuthSession, Contact, User
from contacts_api.security import InvalidToken, read_token

SessionDep = Annotated[AsyncSession, Depends(get_session)]

# Swagger UI's Authorize button logs in through this URL with the password grant.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


# For `responses=`: the docs of every route that needs a token show its 401.
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired access token, or a revoked session"}
}


def unauthorized(detail: str) -> HTTPException:
    # RFC 6750 §3: every 401 names the scheme the client should use.
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def get_current_user(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The user of a valid access token whose session has not been revoked."""
    if not token:
        raise unauthorized("Not authenticated")
    try:
        claims = read_token(token, "access")
    except InvalidToken:
        raise unauthorized("Invalid or expired access token") from None
    # One query checks the token's session is still open, so logout ends it at once.
    user = (
        await session.exec(
            select(User)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(
                col(AuthSession.id) == claims["sid"],
                col(User.id) == int(claims["sub"]),
                col(AuthSession.revoked_at).is_(None),
            )
        )
    ).first()
    if user is None:
        raise unauthorized("Invalid or expired access token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_owned_contact(contact_id: int, user: CurrentUser, session: SessionDep) -> Contact:
    """The contact `contact_id` if it is the user's; anybody else's does not exist (404)."""
    # Ids beyond the column's range cannot exist; asking the database would be an error.
    contact = await session.get(Contact, contact_id) if 1 <= contact_id <= MAX_ID else None
    if contact is None or contact.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Contact not found")
    return contact


OwnedContact = Annotated[Contact, Depends(get_owned_contact)]


def get_now() -> datetime:
    """The current instant; tests override this dependency to pin the date."""
    return datetime.now(UTC)


def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like Europe/Kyiv") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
# Listed in the docs, so that Swagger UI offers them to pick from.
TIME_ZONES = sorted(available_timezones())


def get_today(
    now: Annotated[datetime, Depends(get_now)],
    tz: Annotated[
        TimeZoneName,
        Query(
            max_length=64,
            description="IANA time zone that decides what 'today' is.",
            json_schema_extra={"enum": TIME_ZONES},
        ),
    ] = "UTC",
) -> date:
    """Today's date in time zone `tz`."""
    return now.astimezone(ZoneInfo(tz)).date()


Today = Annotated[date, Depends(get_today)]
