"""Who is asking over CardDAV: HTTP Basic with the account's email and an app password.

Never the account's own password: a lost phone is signed out alone (its app password
deleted), and nobody can guess the account's password through CardDAV. A wrong or missing
password is a 401 that counts against the email's limit of password attempts, the one the
token endpoint's password grant counts (LOGIN_ATTEMPTS); over it, the answer is 429 before
any password is looked at. Right ones count nothing: a sync sends dozens of requests a minute.
"""

from base64 import b64decode
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import bindparam, update
from sqlalchemy import select as sql_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import ClientDisconnect

from contacts_api.db import ReadSessionFactory, SessionFactory
from contacts_api.deps import first_statement
from contacts_api.models import AppPassword, User, normalized_email, utc_now
from contacts_api.ratelimit import LOGIN_ATTEMPTS, count, refuse_when_over
from contacts_api.security import app_password_hash

CHALLENGE = 'Basic realm="contacts_api", charset="UTF-8"'
# The longest email a user can have (routes/auth.py's MAX_EMAIL_LENGTH); an app password is
# 34 characters, with room for the spaces a person may type.
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 128
# How stale `last_used_at` may grow before a request writes it again: at most one write a
# minute for a device, not one for each request of a sync.
LAST_USED_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class DavUserInfo:
    id: int
    email: str
    full_name: str | None


# The user of an email and app password, and the app password's row, in one round trip.
USER_OF_APP_PASSWORD: Any = (
    sql_select(
        col(User.id),
        col(User.email),
        col(User.full_name),
        col(AppPassword.id).label("app_password_id"),
        col(AppPassword.last_used_at),
    )
    .join(AppPassword, col(AppPassword.user_id) == col(User.id))
    .where(
        col(AppPassword.password_hash) == bindparam("password_hash"),
        col(User.email) == bindparam("email"),
    )
)
MARK_USED = (
    update(AppPassword)
    .where(col(AppPassword.id) == bindparam("app_password_id"))
    .values(last_used_at=bindparam("now"))
)


# What only reads: in autocommit, as GET is on the REST routes (no BEGIN, no ROLLBACK).
READ_METHODS = {"GET", "HEAD", "PROPFIND", "REPORT", "OPTIONS"}


async def get_dav_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one session: the sign-in's query runs on it too, so a request takes
    one connection from the pool, not two."""
    factory = ReadSessionFactory if request.method in READ_METHODS else SessionFactory
    if factory is SessionFactory:
        # The body first, then the session: a slow or stalled upload must not hold a pooled
        # connection, nor SQLite's write lock, which the sign-in's query takes (seen: every
        # other writer's 503 after 15 s while one PUT sent its body slowly).
        try:
            await request.body()
        except ClientDisconnect:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "The body did not arrive") from None
    async with factory() as session:
        yield session


DavSession = Annotated[AsyncSession, Depends(get_dav_session)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": CHALLENGE}
    )


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The user name and password of an `Authorization: Basic` header (RFC 7617), else None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 4 * (MAX_EMAIL_LENGTH + MAX_PASSWORD_LENGTH):
        return None
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 once decoded
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


@lru_cache(maxsize=4096)
def _email_of(name: str) -> str:
    # email-validator's normalisation, once per name: a sync repeats it on every request.
    return normalized_email(name)


async def get_dav_user(request: Request, session: DavSession) -> DavUserInfo:
    """The user whose email and app password the request carries; 401 otherwise."""
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        raise unauthorized("Sign in with your email and an app password")
    name, password = credentials
    email = name.strip().lower()
    findable = (
        len(email) <= MAX_EMAIL_LENGTH
        and len(password) <= MAX_PASSWORD_LENGTH
        and "\x00" not in email
    )
    if findable:
        email = _email_of(email)
    key = email[:MAX_EMAIL_LENGTH]
    await refuse_when_over(LOGIN_ATTEMPTS, key)
    row = None
    if findable:
        parameters = {"email": email, "password_hash": app_password_hash(password)}
        connection = await session.connection()
        row = (await first_statement(connection, USER_OF_APP_PASSWORD, parameters)).first()
        now = utc_now()
        if row is not None and (
            row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP
        ):
            await connection.execute(
                MARK_USED, {"app_password_id": row.app_password_id, "now": now}
            )
        if request.method not in READ_METHODS:
            # The sign-in's transaction ends here: a PUT then reads its card (up to a second
            # in a thread) holding no transaction, nor SQLite's write lock.
            await session.commit()
    if row is None:
        await count(LOGIN_ATTEMPTS, key)
        raise unauthorized("Incorrect email or app password")
    return DavUserInfo(id=row.id, email=row.email, full_name=row.full_name)


DavUser = Annotated[DavUserInfo, Depends(get_dav_user)]
