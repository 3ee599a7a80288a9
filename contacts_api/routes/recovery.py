"""Email verification and password recovery: the routes that the links of their messages
lead back to, with the tokens those links carry. Signup and the messages are in `auth.py`."""

from datetime import timedelta
from typing import cast

from fastapi import APIRouter, Depends, status
from pydantic import TypeAdapter
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.config import get_settings
from contacts_api.deps import CurrentUser, SessionDep, first_statement
from contacts_api.docs import TOO_MANY_REQUESTS, UNAUTHORIZED, error, invalid
from contacts_api.errors import AppError, checked
from contacts_api.mail import reset_mail
from contacts_api.models import (
    MAX_ID,
    AuthSession,
    Email,
    EmailToken,
    Message,
    PasswordForgotten,
    PasswordReset,
    User,
    utc_now,
)
from contacts_api.outbox import enqueue
from contacts_api.ratelimit import EMAILS, enforce, limit_recovery_requests
from contacts_api.routes.app_passwords import revoke_app_passwords
from contacts_api.routes.auth import (
    CONTROL_CHARACTER,
    TOKEN_TEXT,
    TOO_SHORT_PASSWORD,
    USER_BY_EMAIL,
    link,
    revoke_sessions,
    send_notice,
    send_verification,
    verification_state,
)
from contacts_api.routes.calendar import revoke_birthday_calendar
from contacts_api.security import (
    InvalidToken,
    Purpose,
    create_purpose_token,
    hash_password,
    in_bcrypt_slot,
    read_purpose_token,
    state_digest,
)

settings = get_settings()

router = APIRouter()

INVALID_LINK = "Invalid, expired or already used token"
RESET_ON_ITS_WAY = "If this email is registered, a message is on its way"

# An address as signup takes it: one that no account can have is a 422, like at signup,
# which tells nothing about who is registered.
EMAIL = TypeAdapter(Email)


def reset_state(user: User) -> str:
    # A reset token dies with a new password (a new hash) and with a new email: the reset also
    # verifies the email that its message reached, which must still be the account's.
    return f"{verification_state(user)}\n{user.password_hash}"


async def user_of_token(session: AsyncSession, token: str, purpose: Purpose) -> tuple[User, str]:
    """The user a message's token names, and the state it is bound to; else 400 (422 for
    what cannot be a token at all)."""
    checked(TOKEN_TEXT, token, "token")
    try:
        user_id, state = read_purpose_token(token, purpose)
    except InvalidToken:
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK) from None
    user = await session.get(User, user_id) if user_id <= MAX_ID else None
    if user is None:  # deleted since
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK)
    return user, state


INVALID_TOKEN = error(
    400, "The token is invalid, expired, already used, or not for this", INVALID_LINK
)


@router.post(
    "/auth/verify-email",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=INVALID_TOKEN | invalid("body", "token", *CONTROL_CHARACTER),
)
async def verify_email(body: EmailToken, session: SessionDep) -> None:
    """Confirm the email address that a verification message was sent to."""
    user, state = await user_of_token(session, body.token, "verify_email")
    if user.email_verified or state != state_digest(verification_state(user)):
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK)
    # Conditional, so that an email changed in the meantime stays unverified, and of two
    # verifications with one token exactly one succeeds.
    verified = await session.exec(
        update(User)
        .where(
            col(User.id) == user.id,
            col(User.email_version) == user.email_version,
            col(User.email_verified).is_(False),
        )
        .values(email_verified=True)
    )
    await session.commit()
    if verified.rowcount == 0:
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK)


@router.post(
    "/auth/verify-email/request",
    tags=["auth"],
    status_code=status.HTTP_202_ACCEPTED,
    responses=UNAUTHORIZED | TOO_MANY_REQUESTS,
)
async def request_verification_email(user: CurrentUser, session: SessionDep) -> Message:
    """Send a new verification message to your email (none if it is verified already)."""
    await enforce(EMAILS, user.email)
    if user.email_verified:
        return Message(detail="Your email address is verified already")
    send_verification(session, user)
    await session.commit()
    return Message(detail="A verification message is on its way")


@router.post(
    "/auth/forgot-password",
    tags=["auth"],
    status_code=status.HTTP_202_ACCEPTED,
    responses=invalid(
        "body",
        "email",
        "value_error",
        "value is not a valid email address: An email address must have an @-sign.",
        reason="An email address must have an @-sign.",
    )
    | TOO_MANY_REQUESTS,
    dependencies=[Depends(limit_recovery_requests)],
)
async def request_password_reset(body: PasswordForgotten, session: SessionDep) -> Message:
    """Ask for a message with a link that sets a new password.

    The answer is the same whether or not the email is registered, and takes about as long:
    the message goes out after it.
    """
    email = checked(EMAIL, body.email, "email")  # trimmed, lower-cased, normalised
    # Counted for every address, registered or not, so that a 429 tells nothing either.
    await enforce(EMAILS, email)
    user = (await first_statement(session, USER_BY_EMAIL, {"email": email})).first()
    if user is not None:
        expires_at = utc_now() + timedelta(minutes=settings.RESET_TOKEN_EXPIRE_MINUTES)
        token = create_purpose_token(
            "reset_password", cast(int, user.id), reset_state(user), expires_at
        )
        enqueue(session, reset_mail(user.email, link("reset-password", token)))
        await session.commit()
    return Message(detail=RESET_ON_ITS_WAY)


@router.post(
    "/auth/reset-password",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=INVALID_TOKEN
    | invalid("body", "new_password", "string_too_short", TOO_SHORT_PASSWORD, min_length=8)
    | TOO_MANY_REQUESTS,
    dependencies=[Depends(limit_recovery_requests)],
)
async def reset_password(body: PasswordReset, session: SessionDep) -> None:
    """Set a new password with the token of a reset message; every session and app password
    ends."""
    user, state = await user_of_token(session, body.token, "reset_password")
    if state != state_digest(reset_state(user)):
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK)
    old_hash, email, version = user.password_hash, user.email, user.email_version
    await session.commit()  # the read is done: release the connection during bcrypt
    new_hash = await in_bcrypt_slot(hash_password, body.new_password)
    # Only if nothing changed meanwhile: of two resets with one token, exactly one gets here.
    replaced = await session.exec(
        update(User)
        .where(
            col(User.id) == user.id,
            col(User.password_hash) == old_hash,
            col(User.email_version) == version,
        )
        .values(password_hash=new_hash, email_verified=True)
    )
    if replaced.rowcount == 0:
        await session.rollback()
        raise AppError(status.HTTP_400_BAD_REQUEST, INVALID_LINK)
    send_notice(session, email, "Your password was reset")
    await revoke_sessions(session, col(AuthSession.user_id) == user.id)  # commits all three
    await revoke_birthday_calendar(session, user.id)
    await revoke_app_passwords(session, user.id)
