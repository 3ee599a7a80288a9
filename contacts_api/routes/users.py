"""The account of the signed-in user: read it, change the name, email or password, delete it."""

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete

from contacts_api.db import unique_or_409
from contacts_api.deps import CurrentUser, SessionDep, unauthorized
from contacts_api.docs import TOO_MANY_REQUESTS, UNAUTHORIZED, error, invalid
from contacts_api.errors import AppError
from contacts_api.models import (
    AccountDeletion,
    AuthSession,
    PasswordChange,
    User,
    UserPublic,
    UserUpdate,
)
from contacts_api.ratelimit import EMAILS, LOGIN_ATTEMPTS, enforce
from contacts_api.routes.app_passwords import revoke_app_passwords
from contacts_api.routes.auth import (
    TOO_SHORT_PASSWORD,
    revoke_sessions,
    send_notice,
    send_verification,
)
from contacts_api.routes.calendar import revoke_birthday_calendar
from contacts_api.security import hash_password, in_bcrypt_slot, verify_password

router = APIRouter(prefix="/users", tags=["users"], responses=UNAUTHORIZED)

WRONG_PASSWORD = error(400, "The current password is wrong", "Current password is incorrect")


def account_gone() -> HTTPException:
    # The UPDATE of the user found no row: the account was deleted while this request waited
    # for bcrypt. Its sessions went with it, so this is what any later request gets too.
    return unauthorized("Invalid or expired access token")


# An email change is told to the old address, which can no longer reset the account's password.
EMAIL_CHANGE_ADVICE = (
    "If this was not you, someone who knows your password has taken the account over: tell "
    "whoever runs this service, who can give it back to this address."
)


async def check_current_password(user: User, password: str) -> None:
    """400 unless `password` is the user's; guesses count like password-grant attempts."""
    await enforce(LOGIN_ATTEMPTS, user.email)
    if not await in_bcrypt_slot(verify_password, password, user.password_hash):
        raise AppError(status.HTTP_400_BAD_REQUEST, "Current password is incorrect")


@router.get("/me", response_model=UserPublic)
async def read_current_user(user: CurrentUser) -> User:
    """The user the access token belongs to."""
    return user


@router.patch(
    "/me",
    response_model=UserPublic,
    responses=WRONG_PASSWORD
    | error(409, "Another user has this email", "Email already registered")
    | invalid(
        "body", "email", "value_error", "Value error, changing the email needs current_password"
    )
    | TOO_MANY_REQUESTS,
)
async def update_current_user(body: UserUpdate, user: CurrentUser, session: SessionDep) -> User:
    """Change your name, or your email (with your current password: it must be verified again)."""
    await session.commit()  # the token check's read: release its connection during bcrypt
    changes = body.model_dump(exclude_unset=True, exclude={"email", "current_password"})
    old_email = user.email
    if body.email is not None and body.current_password is not None:
        await check_current_password(user, body.current_password)
        if body.email != old_email:
            # A change sends a message to each address: counted like forgot-password's, so
            # that switching back and forth cannot flood anybody's inbox.
            await enforce(EMAILS, body.email)
            await enforce(EMAILS, old_email)
            user.email, user.email_verified = body.email, False
            user.email_version += 1  # every token sent to an earlier address is dead now
    user.sqlmodel_update(changes)
    session.add(user)
    if user.email != old_email:
        # In the change's transaction: a change that fails (409) sends nothing.
        send_verification(session, user)
        send_notice(
            session,
            old_email,
            f"The email address of your account was changed to {user.email}",
            advice=EMAIL_CHANGE_ADVICE,
        )
    try:
        async with unique_or_409(session, "Email already registered"):
            await session.commit()
    except StaleDataError:
        raise account_gone() from None
    return user


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRONG_PASSWORD
    | invalid("body", "current_password", "missing", "Field required")
    | TOO_MANY_REQUESTS,
)
async def delete_current_user(
    body: AccountDeletion, user: CurrentUser, session: SessionDep
) -> None:
    """Delete your account for good: every contact, label and session of yours goes with it,
    the address of your birthday calendar and your app passwords."""
    await session.commit()  # release the connection during bcrypt
    await check_current_password(user, body.current_password)
    # The database deletes the rest: every table of a user's rows cascades from `users`.
    await session.exec(delete(User).where(col(User.id) == user.id))
    await session.commit()


@router.put(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRONG_PASSWORD
    | invalid("body", "new_password", "string_too_short", TOO_SHORT_PASSWORD, min_length=8)
    | TOO_MANY_REQUESTS,
)
async def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> None:
    """Change your password; every one of your sessions and app passwords ends, so log in
    again."""
    await session.commit()  # the token check's read: release its connection during bcrypt
    await check_current_password(user, body.current_password)
    user.password_hash = await in_bcrypt_slot(hash_password, body.new_password)
    session.add(user)
    send_notice(session, user.email, "Your password was changed")
    try:
        await revoke_sessions(session, col(AuthSession.user_id) == user.id)  # commits all three
    except StaleDataError:
        raise account_gone() from None
    await revoke_birthday_calendar(session, user.id)
    await revoke_app_passwords(session, user.id)
