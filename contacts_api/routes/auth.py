"""Signup, the OAuth2 token endpoint (login and refresh), logout, and the current user."""

import uuid
from datetime import timedelta
from typing import Annotated, Literal, Self, cast

from fastapi import APIRouter, Form, HTTPException, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import get_settings
from contacts_api.db import is_unique_violation
from contacts_api.deps import UNAUTHORIZED, CurrentUser, SessionDep, unauthorized
from contacts_api.models import (
    AuthSession,
    RefreshTokenIn,
    Token,
    User,
    UserCreate,
    UserPublic,
    utc_now,
)
from contacts_api.security import (
    InvalidToken,
    create_token,
    hash_password,
    read_token,
    verify_password,
)

settings = get_settings()

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={409: {"description": "A user with this email already exists"}},
)
async def create_user(user_in: UserCreate, session: SessionDep) -> User:
    """Register a user with an email address and a password."""
    # bcrypt takes a quarter of a second at cost 12: never on the event loop.
    password_hash = await run_in_threadpool(hash_password, user_in.password)
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
    grant_type: Literal["password", "refresh_token"] = "password"
    username: str | None = None
    password: str | None = None
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
    response_model=Token,
    responses={401: {"description": "Bad email or password, or a bad refresh token"}},
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
    # A NUL byte is not valid in a PostgreSQL string, and no email contains one.
    if "\x00" not in email:
        user = (await session.exec(select(User).where(User.email == email))).first()
    # Verified even for an unknown email (against a dummy hash): both answers take as long.
    password_hash = user.password_hash if user else None
    password_matches = await run_in_threadpool(verify_password, password, password_hash)
    if user is None or not password_matches:
        raise unauthorized("Incorrect email or password")
    session_id = uuid.uuid4().hex
    user_id = cast(int, user.id)  # a stored user has an id
    tokens, refresh_token_id = make_tokens(user_id, session_id)
    session.add(AuthSession(id=session_id, user_id=user_id, refresh_token_id=refresh_token_id))
    await session.commit()
    return tokens


async def refresh_session(session: AsyncSession, refresh_token: str) -> Token:
    try:
        claims = read_token(refresh_token, "refresh")
    except InvalidToken:
        raise unauthorized("Invalid or expired refresh token") from None
    user_id, session_id = int(claims["sub"]), claims["sid"]
    tokens, new_token_id = make_tokens(user_id, session_id)
    # Rotation in one conditional UPDATE: of two concurrent refreshes with the same token,
    # the database lets exactly one match `refresh_token_id`; the other finds it retired.
    rotated = await session.exec(
        update(AuthSession)
        .where(
            col(AuthSession.id) == session_id,
            col(AuthSession.user_id) == user_id,
            col(AuthSession.refresh_token_id) == claims["jti"],
            col(AuthSession.revoked_at).is_(None),
        )
        .values(refresh_token_id=new_token_id)
        .returning(col(AuthSession.id))
    )
    if rotated.first() is None:
        # A retired refresh token came back: whoever holds it may have stolen it, so the
        # session ends for everybody, the newest refresh token and access tokens included.
        await revoke_session(session, session_id)
        raise unauthorized("Invalid or expired refresh token")
    await session.commit()
    return tokens


def make_tokens(user_id: int, session_id: str) -> tuple[Token, str]:
    """A new access and refresh token pair of a session, and the refresh token's id."""
    access_lifetime = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    access_token, _ = create_token("access", user_id, session_id, access_lifetime)
    refresh_token, refresh_token_id = create_token(
        "refresh", user_id, session_id, timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS)
    )
    token = Token(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int(access_lifetime.total_seconds()),
    )
    return token, refresh_token_id


async def revoke_session(session: AsyncSession, session_id: str) -> None:
    await session.exec(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utc_now())
    )
    await session.commit()


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(body: RefreshTokenIn, session: SessionDep) -> None:
    """End the session of a refresh token; an unknown or revoked token is fine too."""
    try:
        claims = read_token(body.refresh_token, "refresh")
    except InvalidToken:
        return
    await revoke_session(session, claims["sid"])


@router.get("/users/me", response_model=UserPublic, responses=UNAUTHORIZED)
async def read_user_me(user: CurrentUser) -> User:
    """The user the access token belongs to."""
    return user
