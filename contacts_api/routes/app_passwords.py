"""App passwords: one for each device that syncs the book over CardDAV.

The service makes each password and shows it once; only its hash is kept. A device signs in
to /dav/ with the account's email and its app password (dav/auth.py), never the account's own
password, so a lost phone is signed out alone, here.
"""

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import bindparam, func, insert
from sqlalchemy import select as sql_select
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.deps import (
    CurrentUser,
    SessionDep,
    TokenClaims,
    first_statement,
    session_is_open,
    session_parameters,
    unauthorized,
)
from contacts_api.docs import UNAUTHORIZED, Responses, error, invalid
from contacts_api.models import (
    MAX_APP_PASSWORDS,
    AppPassword,
    AppPasswordCreate,
    AppPasswordMade,
    AppPasswordPublic,
    AuthSession,
    User,
    UTCDateTime,
    utc_now,
)
from contacts_api.security import app_password_hash, new_app_password

router = APIRouter(prefix="/users/me/app-passwords", tags=["app passwords"], responses=UNAUTHORIZED)

MADE: Responses = {201: {"headers": {"Location": {"description": "The new app password's path"}}}}
SHORT_NAME = "String should have at least 1 character"
TOO_MANY = f"You have {MAX_APP_PASSWORDS} app passwords, the most there may be: delete one first"

# A new app password for the user of the token, made from the token's session, locked while
# it is written (as for the birthday calendar): a logout-all, password change or reset that
# revokes the session first leaves this with nothing to insert (401), and one that comes after
# finds the new row and deletes it too. No app password outlives the revocation.
NEW_APP_PASSWORD = (
    insert(AppPassword)
    .from_select(
        ["user_id", "name", "password_hash", "created_at"],
        sql_select(
            col(AuthSession.user_id),
            bindparam("name"),
            bindparam("password_hash"),
            bindparam("made_at", type_=UTCDateTime()),
        )
        .where(session_is_open())
        .with_for_update(read=True),
    )
    .returning(col(AppPassword.id))
)


async def revoke_app_passwords(session: AsyncSession, user_id: int | None) -> None:
    """Sign every device of the user out of CardDAV (delete their app passwords), and commit."""
    await session.exec(delete(AppPassword).where(col(AppPassword.user_id) == user_id))
    await session.commit()


@router.get("", response_model=list[AppPasswordPublic])
async def read_app_passwords(user: CurrentUser, session: SessionDep) -> list[AppPassword]:
    """Your app passwords, newest first (never the passwords themselves)."""
    found = await session.exec(
        select(AppPassword)
        .where(col(AppPassword.user_id) == user.id)
        .order_by(col(AppPassword.created_at).desc(), col(AppPassword.id).desc())
    )
    return list(found.all())


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AppPasswordMade,
    responses=MADE
    | invalid("body", "name", "string_too_short", SHORT_NAME, min_length=1)
    | error(409, f"You have {MAX_APP_PASSWORDS} app passwords already", TOO_MANY),
)
async def create_app_password(
    body: AppPasswordCreate,
    claims: TokenClaims,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> AppPasswordMade:
    """Make a password for one device to sync your book with over CardDAV (HTTP Basic: your
    email and this password). It is shown this once."""
    # One create of a user's at a time (their row locked, as a CardDAV PUT that creates a card
    # does): two at once both counted 49, and made 51. SQLite's write lock does the same.
    await session.exec(
        select(User.id).where(col(User.id) == user.id).with_for_update(key_share=True)
    )
    count = (
        await session.exec(
            select(func.count()).select_from(AppPassword).where(col(AppPassword.user_id) == user.id)
        )
    ).one()
    if count >= MAX_APP_PASSWORDS:
        raise HTTPException(status.HTTP_409_CONFLICT, TOO_MANY)
    password = new_app_password()
    made_at = utc_now()
    parameters = session_parameters(claims) | {
        "name": body.name,
        "password_hash": app_password_hash(password),
        "made_at": made_at,
    }
    connection = await session.connection()
    row = (await first_statement(connection, NEW_APP_PASSWORD, parameters)).first()
    await session.commit()
    if row is None:  # the session was revoked meanwhile
        raise unauthorized("Invalid or expired access token")
    response.headers["Location"] = request.url_for(
        "delete_app_password", app_password_id=row.id
    ).path
    return AppPasswordMade(
        id=row.id, name=body.name, created_at=made_at, last_used_at=None, password=password
    )


@router.delete(
    "/{app_password_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error(404, "You have no app password with this id", "App password not found"),
)
async def delete_app_password(app_password_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Sign one device out: its app password stops working at once."""
    gone = await session.exec(
        delete(AppPassword).where(
            col(AppPassword.id) == app_password_id, col(AppPassword.user_id) == user.id
        )
    )
    await session.commit()
    if gone.rowcount == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "App password not found")
