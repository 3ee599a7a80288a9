"""Signup, the OAuth2 token endpoint (login and refresh), logout, and the current user."""

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self, TypeVar, cast

from fastapi import APIRouter, Depends, Form, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import get_settings
from contacts_api.db import is_unique_violation
from contacts_api.deps import CurrentUser, SessionDep, unauthorized
from contacts_api.docs import TOO_MANY_REQUESTS, UNAUTHORIZED, error, invalid
from contacts_api.errors import AppError
from contacts_api.models import (
    EXAMPLE_PASSWORD,
    AuthSession,
    PasswordChange,
    RefreshTokenIn,
    Token,
    User,
    UserCreate,
    UserPublic,
    normalized_email,
    utc_now,
)
from contacts_api.ratelimit import LOGIN_ATTEMPTS, enforce, limit_signups, limit_token_requests
from contacts_api.security import (
    InvalidToken,
    create_token,
    hash_password,
    new_token_id,
    read_token,
    verify_password,
)

settings = get_settings()
T = TypeVar("T")

# The longest address email-validator accepts, and so the longest a user can have.
MAX_EMAIL_LENGTH = 254

router = APIRouter()

TOO_SHORT_PASSWORD = "String should have at least 8 characters"


# bcrypt is CPU work: more hashes at once than there are cores only slows each of them, and
# forty threads hashing would starve the event loop that serves every other request. So
# hashes run in threads of their own, never on the loop, and at most one per core at a time.
#
# The hashing threads also run at a lower CPU priority than the event loop (Linux sets the
# priority per thread): while 32 logins hash, other requests get the CPU first (p99 of GET
# one contact 4.2 times its idle value before, 1.2 times after), and logins still have every
# cycle left over.
def _lower_priority() -> None:
    if sys.platform != "linux":  # elsewhere nice() would lower the whole process
        return
    # A sandbox may forbid it: then hash at normal priority rather than fail (an initializer
    # that raises breaks the executor, and every login after it).
    with contextlib.suppress(OSError):
        os.nice(10)


BCRYPT_THREADS = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="bcrypt", initializer=_lower_priority
)


async def in_bcrypt_slot(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(BCRYPT_THREADS, function, *args)


@router.post(
    "/auth/signup",
    tags=["auth"],
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error(409, "A user with this email already exists", "Email already registered")
    | invalid("body", "password", "string_too_short", TOO_SHORT_PASSWORD, min_length=8)
    | TOO_MANY_REQUESTS,
    dependencies=[Depends(limit_signups)],
)
async def create_user(user_in: UserCreate, session: SessionDep) -> User:
    """Register a user with an email address and a password."""
    # bcrypt takes a quarter of a second at cost 12: never on the event loop.
    password_hash = await in_bcrypt_slot(hash_password, user_in.password)
    user = User.model_validate(user_in, update={"password_hash": password_hash})
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise HTTPException(status.HTTP_409_CONFLICT, "Email already registered") from None
    return user


# The token endpoint's form (RFC 6749 §4.3 and §6); `grant_type` picks the flow.
class TokenRequest(BaseModel):
    # The schema says which fields each grant needs, so clients and fuzzers know too.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"grant_type": {"const": "refresh_token"}},
                "required": ["grant_type"],
            },
            "then": {"required": ["refresh_token"]},
            "else": {"required": ["username", "password"]},
        }
    )

    grant_type: Literal["password", "refresh_token"] = "password"
    # No length limits here: at login a too long name or password is just wrong (401).
    username: str | None = Field(
        default=None, description="Your email address", examples=["ann@example.com"]
    )
    password: str | None = Field(default=None, examples=[EXAMPLE_PASSWORD])
    refresh_token: str | None = None
    # Sent by OAuth2 clients such as Swagger UI; this API has no scopes or client secrets.
    scope: str = ""
    client_id: str | None = None
    client_secret: str | None = None

    @model_validator(mode="after")
    def _has_the_fields_of_its_grant(self) -> Self:
        if self.grant_type == "password" and (self.username is None or self.password is None):
            raise ValueError("grant_type=password needs username and password")
        if self.grant_type == "refresh_token" and self.refresh_token is None:
            raise ValueError("grant_type=refresh_token needs refresh_token")
        return self


@router.post(
    "/auth/token",
    tags=["auth"],
    response_model=Token,
    responses=error(
        401, "Bad email or password, or a bad refresh token", "Incorrect email or password"
    )
    | invalid(
        "body",
        "grant_type",
        "literal_error",
        "Input should be 'password' or 'refresh_token'",
        expected="'password' or 'refresh_token'",
    )
    | TOO_MANY_REQUESTS,
    dependencies=[Depends(limit_token_requests)],
)
async def issue_tokens(
    form: Annotated[TokenRequest, Form()], session: SessionDep, response: Response
) -> Token:
    """Log in with email and password, or trade a refresh token for a new pair."""
    # Tokens must not be cached by the browser or a proxy (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    # The form's validator has checked that the fields of its grant are there.
    if form.grant_type == "refresh_token":
        return await refresh_session(session, form.refresh_token or "")
    return await log_in(session, form.username or "", form.password or "")


async def log_in(session: AsyncSession, username: str, password: str) -> Token:
    user = None
    email = username.strip().lower()
    # No stored email is longer, or holds a NUL byte (which PostgreSQL strings cannot hold):
    # such a name is an unknown email, found without email-validator or the database (which
    # would spend a quarter second of the event loop on a name of a megabyte).
    findable = len(email) <= MAX_EMAIL_LENGTH and "\x00" not in email
    if findable:
        email = normalized_email(email)
    await enforce(LOGIN_ATTEMPTS, email[:MAX_EMAIL_LENGTH])
    if findable:
        user = (await session.exec(select(User).where(User.email == email))).first()
    # End the read before bcrypt's quarter second, so the connection goes back to the pool
    # instead of waiting idle in this request while the password is checked.
    await session.commit()
    # Verified even for an unknown email (against a dummy hash): both answers take as long.
    password_hash = user.password_hash if user else None
    password_matches = await in_bcrypt_slot(verify_password, password, password_hash)
    if user is None or not password_matches:
        raise unauthorized("Incorrect email or password")
    user_id = cast(int, user.id)  # a stored user has an id
    now = utc_now()
    # Ended sessions are of no more use (a replayed token of one is refused all the same);
    # dropping them at each login keeps the table as small as the sessions in use.
    await session.exec(
        delete(AuthSession).where(
            col(AuthSession.user_id) == user_id,
            or_(col(AuthSession.revoked_at).is_not(None), col(AuthSession.expires_at) <= now),
        )
    )
    auth_session = AuthSession(
        id=new_token_id(),
        user_id=user_id,
        refresh_token_id=new_token_id(),
        expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    session.add(auth_session)
    await session.commit()
    return make_tokens(
        user_id, auth_session.id, auth_session.refresh_token_id, auth_session.expires_at
    )


async def refresh_session(session: AsyncSession, refresh_token: str) -> Token:
    try:
        claims = read_token(refresh_token, "refresh")
    except InvalidToken:
        raise unauthorized("Invalid or expired refresh token") from None
    user_id, session_id = int(claims["sub"]), claims["sid"]
    new_refresh_token_id = new_token_id()
    # Rotation in one conditional UPDATE: of two concurrent refreshes with the same token,
    # the database lets exactly one match `refresh_token_id`; the other finds it retired.
    rotated = await session.exec(
        update(AuthSession)
        .where(
            col(AuthSession.id) == session_id,
            col(AuthSession.user_id) == user_id,
            col(AuthSession.refresh_token_id) == claims["jti"],
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utc_now(),
        )
        .values(refresh_token_id=new_refresh_token_id)
        .returning(col(AuthSession.expires_at))
    )
    session_expires_at = rotated.scalar_one_or_none()
    if session_expires_at is None:
        # A retired refresh token came back: whoever holds it may have stolen it, so the
        # session ends for everybody, the newest refresh token and access tokens included.
        await revoke_sessions(session, col(AuthSession.id) == session_id)
        raise unauthorized("Invalid or expired refresh token")
    await session.commit()
    return make_tokens(user_id, session_id, new_refresh_token_id, session_expires_at)


def make_tokens(
    user_id: int, session_id: str, refresh_token_id: str, session_expires_at: datetime
) -> Token:
    """A session's new token pair; the refresh token lives as long as the session."""
    access_lifetime = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    return Token(
        access_token=create_token(
            "access", user_id, session_id, new_token_id(), utc_now() + access_lifetime
        ),
        refresh_token=create_token(
            "refresh", user_id, session_id, refresh_token_id, session_expires_at
        ),
        expires_in=int(access_lifetime.total_seconds()),
    )


async def revoke_sessions(session: AsyncSession, *which: ColumnElement[bool]) -> None:
    """Revoke the open sessions that match `which`, and commit."""
    await session.exec(
        update(AuthSession)
        .where(*which, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utc_now())
    )
    await session.commit()


@router.post(
    "/auth/logout",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=invalid("body", "refresh_token", "missing", "Field required"),
)
async def log_out(body: RefreshTokenIn, session: SessionDep) -> None:
    """End the session of a refresh token; an unknown or revoked token is fine too."""
    try:
        claims = read_token(body.refresh_token, "refresh")
    except InvalidToken:
        return
    await revoke_sessions(session, col(AuthSession.id) == claims["sid"])


@router.post(
    "/auth/logout-all",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED,
)
async def log_out_everywhere(user: CurrentUser, session: SessionDep) -> None:
    """End every session of the current user: all their tokens stop working at once."""
    await revoke_sessions(session, col(AuthSession.user_id) == user.id)


@router.get("/users/me", tags=["users"], response_model=UserPublic, responses=UNAUTHORIZED)
async def read_current_user(user: CurrentUser) -> User:
    """The user the access token belongs to."""
    return user


@router.put(
    "/users/me/password",
    tags=["users"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error(400, "The current password is wrong", "Current password is incorrect")
    | UNAUTHORIZED
    | invalid("body", "new_password", "string_too_short", TOO_SHORT_PASSWORD, min_length=8)
    | TOO_MANY_REQUESTS,
)
async def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> None:
    """Change your password; every one of your sessions ends, so log in again."""
    await session.commit()  # the token check's read: release its connection during bcrypt
    # Guesses at the current password count like password-grant attempts for the email.
    await enforce(LOGIN_ATTEMPTS, user.email)
    if not await in_bcrypt_slot(verify_password, body.current_password, user.password_hash):
        raise AppError(status.HTTP_400_BAD_REQUEST, "Current password is incorrect")
    user.password_hash = await in_bcrypt_slot(hash_password, body.new_password)
    session.add(user)
    await revoke_sessions(session, col(AuthSession.user_id) == user.id)  # commits both
