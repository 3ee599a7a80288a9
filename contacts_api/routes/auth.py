"""Signup, the OAuth2 token endpoint (login and refresh), logout, and the messages that
accounts get. Email verification and password recovery are in `recovery.py`, the account
itself (profile, password, deletion) in `users.py`."""

from datetime import datetime, timedelta
from typing import Annotated, Literal, Self, cast

from fastapi import APIRouter, Depends, Form, HTTPException, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from sqlalchemy import ColumnElement, bindparam, literal, or_
from sqlalchemy import insert as sql_insert
from sqlalchemy import select as sql_select
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import get_settings
from contacts_api.db import unique_or_409
from contacts_api.deps import CurrentUser, SessionDep, first_statement, unauthorized
from contacts_api.docs import TOO_MANY_REQUESTS, UNAUTHORIZED, error, invalid
from contacts_api.errors import checked
from contacts_api.mail import notice_mail, verification_mail
from contacts_api.models import (
    EXAMPLE_PASSWORD,
    AuthSession,
    RefreshTokenIn,
    Token,
    User,
    UserCreate,
    UserPublic,
    UTCDateTime,
    no_control_characters,
    normalized_email,
    utc_now,
)
from contacts_api.outbox import enqueue
from contacts_api.ratelimit import (
    LOGIN_ATTEMPTS,
    enforce,
    limit_signups,
    limit_token_requests,
)
from contacts_api.routes.app_passwords import revoke_app_passwords
from contacts_api.routes.calendar import revoke_birthday_calendar
from contacts_api.security import (
    InvalidToken,
    create_purpose_token,
    create_token,
    hash_password,
    in_bcrypt_slot,
    new_token_id,
    read_token,
    verify_password,
)

settings = get_settings()

USER_BY_EMAIL = select(User).where(col(User.email) == bindparam("email"))
EMAIL_OWNER = select(User.id).where(col(User.email) == bindparam("email"))

# The longest address email-validator accepts, and so the longest a user can have.
MAX_EMAIL_LENGTH = 254

router = APIRouter()

TOO_SHORT_PASSWORD = "String should have at least 8 characters"
UNVERIFIED = "Verify your email address first"

# The rules of every text field, for the tokens that bodies carry: a token with a control
# character (NUL included) is a malformed body (422), not an expired link (400).
TOKEN_TEXT = TypeAdapter(Annotated[str, AfterValidator(no_control_characters)])
CONTROL_CHARACTER = ("value_error", "Value error, must not contain control characters")


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
    # A taken email is a 409 before the quarter second of bcrypt. As the request's first
    # statement it also meets a connection that a database restart killed, and runs again on
    # a new one (deps.first_statement); the read ends before bcrypt, to free the connection.
    taken = await first_statement(session, EMAIL_OWNER, {"email": user_in.email})
    if taken.first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "Email already registered")
    await session.commit()
    # bcrypt takes a quarter of a second at cost 12: never on the event loop.
    password_hash = await in_bcrypt_slot(hash_password, user_in.password)
    user = User.model_validate(user_in, update={"password_hash": password_hash})
    session.add(user)
    async with unique_or_409(session, "Email already registered"):  # a signup just before
        await session.flush()  # the user's id, which the verification link names
        send_verification(session, user)  # committed with the user, or not at all
        await session.commit()
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
    | error(
        403,
        "The right password of an unverified user, with REQUIRE_VERIFIED_EMAIL=true",
        UNVERIFIED,
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
        # The first statement of a login: see deps.first_statement.
        user = (await first_statement(session, USER_BY_EMAIL, {"email": email})).first()
    # End the read before bcrypt's quarter second, so the connection goes back to the pool
    # instead of waiting idle in this request while the password is checked.
    await session.commit()
    # Verified even for an unknown email (against a dummy hash): both answers take as long.
    password_hash = user.password_hash if user else None
    password_matches = await in_bcrypt_slot(verify_password, password, password_hash)
    if user is None or not password_matches:
        raise unauthorized("Incorrect email or password")
    if settings.REQUIRE_VERIFIED_EMAIL and not user.email_verified:
        # Only after the password: to anybody else the answer is the usual 401.
        raise HTTPException(status.HTTP_403_FORBIDDEN, UNVERIFIED)
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
    session_id, refresh_token_id = new_token_id(), new_token_id()
    expires_at = now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS)
    # The session opens only while the password hash is still the one just checked. A password
    # change or a reset during the quarter second of bcrypt revokes every session, and a login
    # with the old password must not open one after it (a review saw 17 of 40 such logins keep
    # working tokens). FOR SHARE makes a login that meets such a change wait for its commit,
    # and then find the new hash (SQLite runs one writer at a time anyway).
    opened = await session.exec(
        sql_insert(AuthSession).from_select(
            ["id", "user_id", "refresh_token_id", "created_at", "expires_at"],
            sql_select(
                literal(session_id),
                col(User.id),
                literal(refresh_token_id),
                literal(now, UTCDateTime()),
                literal(expires_at, UTCDateTime()),
            )
            .where(col(User.id) == user_id, col(User.password_hash) == password_hash)
            .with_for_update(read=True),
        )
    )
    await session.commit()
    if opened.rowcount == 0:
        raise unauthorized("Incorrect email or password")
    return make_tokens(user_id, session_id, refresh_token_id, expires_at)


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
    responses=invalid("body", "refresh_token", *CONTROL_CHARACTER),
)
async def log_out(body: RefreshTokenIn, session: SessionDep) -> None:
    """End the session of a refresh token; an unknown or revoked token is fine too."""
    refresh_token = checked(TOKEN_TEXT, body.refresh_token, "refresh_token")
    try:
        claims = read_token(refresh_token, "refresh")
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
    """End every session of the current user: all their tokens stop working at once, and the
    address of their birthday calendar and their app passwords too."""
    await revoke_sessions(session, col(AuthSession.user_id) == user.id)
    await revoke_birthday_calendar(session, user.id)
    await revoke_app_passwords(session, user.id)


# --- Messages --------------------------------------------------------------------------------


def link(page: str, token: str) -> str:
    return f"{settings.PUBLIC_URL}/{page}?token={token}"


def send_verification(session: AsyncSession, user: User) -> None:
    """Send `user` the link that verifies their current email: written to the outbox in
    `session`'s transaction, sent after its commit (contacts_api/outbox.py)."""
    expires_at = utc_now() + timedelta(hours=settings.VERIFY_TOKEN_EXPIRE_HOURS)
    token = create_purpose_token(
        "verify_email", cast(int, user.id), verification_state(user), expires_at
    )
    enqueue(session, verification_mail(user.email, link("verify-email", token)))


def send_notice(session: AsyncSession, to: str, what: str, advice: str | None = None) -> None:
    """Tell the address `to` that `what` happened to the account just now (in `session`'s
    transaction, like `send_verification`)."""
    enqueue(session, notice_mail(to, what, utc_now(), advice))


def verification_state(user: User) -> str:
    """What a verification token is bound to: this account (on SQLite a deleted user's id
    comes back for the next signup, its creation time does not), this change of the email
    (A, B, then A again is a new state), and the email itself."""
    return f"{user.id}\n{user.created_at.timestamp()}\n{user.email_version}\n{user.email}"
