"""The birthday calendar: the secret address of each user's feed, and what the API shows."""

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlmodel import Field, SQLModel

from contacts_api.models.types import timestamp


# The `birthday_calendars` table: at most one feed per user. Only a hash of the secret is
# stored: a copy of the database (a backup, a dump) opens nobody's calendar, and a lookup by
# the hash compares no secret byte by byte, so its timing tells nothing about the secrets.
class BirthdayCalendar(SQLModel, table=True):
    __tablename__ = "birthday_calendars"

    user_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")]
    )
    # SHA-256 of the secret, in hex. A secret of 256 random bits needs no slow hash: nobody
    # can guess one whose hash they would then look up.
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp()


# The answer of POST /users/me/birthday-calendar.
class BirthdayCalendarUrl(SQLModel):
    url: str = Field(
        description="The address calendar programs subscribe to; whoever has it can read the "
        "calendar, so keep it like a password.",
        schema_extra={
            "examples": ["https://contacts.example.com/calendars/birthdays/Xq3...Zk.ics"]
        },
    )
