"""Birthday reminders by email: your settings (contacts_api/reminders.py sends the messages)."""

from fastapi import APIRouter, status
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from contacts_api.db import engine
from contacts_api.deps import CurrentUser, SessionDep
from contacts_api.docs import UNAUTHORIZED, error, invalid
from contacts_api.errors import AppError
from contacts_api.models import UNKNOWN_TIME_ZONE, Reminders, ReminderSettings

router = APIRouter(
    prefix="/users/me/reminders", tags=["birthday reminders"], responses=UNAUTHORIZED
)

UNVERIFIED = "Verify your email address first"

_insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(
    ReminderSettings
)


@router.get("")
async def read_reminders(user: CurrentUser, session: SessionDep) -> Reminders:
    """Your birthday reminders: whether they are on, how many days ahead, at what hour where."""
    return Reminders.of(await session.get(ReminderSettings, user.id))


@router.put(
    "",
    responses=error(
        status.HTTP_403_FORBIDDEN, "Reminders go to verified addresses only", UNVERIFIED
    )
    | invalid("body", "time_zone", "value_error", f"Value error, {UNKNOWN_TIME_ZONE}"),
)
async def replace_reminders(body: Reminders, user: CurrentUser, session: SessionDep) -> Reminders:
    """Set your birthday reminders: one message a day at `hour` in `time_zone` that lists the
    birthdays `d` days ahead, for each `d` of `days_before` (none on a day without any)."""
    current = await session.get(ReminderSettings, user.id)
    # Turning them on needs a verified address; reminders that are on already may be changed
    # while a new address waits for its verification (the run skips them until then).
    if body.enabled and not user.email_verified and not (current and current.enabled):
        raise AppError(status.HTTP_403_FORBIDDEN, UNVERIFIED)
    settings = body.model_dump()
    # One statement, so that two PUTs at once cannot both insert. A change moves
    # `checked_on` back to `sent_on`: if today's message has not gone out, the next run
    # checks today again with the new settings (turned on after the hour: sent that day); if
    # it has, nothing more goes out today. The database reads `sent_on` as it writes the row,
    # so a run that sends meanwhile is not undone.
    await (await session.connection()).execute(
        _insert.values(user_id=user.id, **settings).on_conflict_do_update(
            index_elements=["user_id"],
            set_=settings | {"checked_on": col(ReminderSettings.sent_on)},
        )
    )
    await session.commit()
    return body
