"""Birthday reminders by email: each user's settings, and the days the run checked and sent."""

from datetime import date
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator
from sqlalchemy import JSON, Column, ForeignKey, false, text
from sqlmodel import Field, SQLModel

from contacts_api.models.contacts import partial_index
from contacts_api.models.types import TimeZoneName

DEFAULT_DAYS_BEFORE = [0, 7]
DEFAULT_HOUR = 8
DEFAULT_TIME_ZONE = "UTC"
MAX_DAYS_AHEAD = 30


def _distinct(days: list[int]) -> list[int]:
    if len(set(days)) != len(days):
        raise ValueError("must not repeat a value")
    return days


# 1 to 5 distinct numbers of days in 0-30: 0 is the birthday itself, 7 a week before it.
DaysBefore = Annotated[
    list[Annotated[int, pydantic.Field(strict=True, ge=0, le=MAX_DAYS_AHEAD)]],
    pydantic.Field(min_length=1, max_length=5),
    AfterValidator(_distinct),
]


# The `reminder_settings` table: one row per user who has set their reminders (a user without
# one has the defaults, off). `checked_on` and `sent_on` are days in the user's time zone:
# the last day the run looked at the user's birthdays, and the last day it sent them a message.
class ReminderSettings(SQLModel, table=True):
    __tablename__ = "reminder_settings"
    # The run reads the enabled rows of a few time zones at a time.
    __table_args__ = (partial_index(text("enabled"), "time_zone", "hour"),)

    user_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")]
    )
    enabled: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    days_before: list[int] = Field(
        default_factory=lambda: list(DEFAULT_DAYS_BEFORE),
        sa_column=Column(JSON, nullable=False, server_default=text("'[0,7]'")),
    )
    hour: int = Field(default=DEFAULT_HOUR, sa_column_kwargs={"server_default": "8"})
    time_zone: str = Field(
        default=DEFAULT_TIME_ZONE, max_length=64, sa_column_kwargs={"server_default": "UTC"}
    )
    checked_on: date | None = None
    sent_on: date | None = None


# The body of PUT /users/me/reminders and the answer of both routes. A field left out of a
# PUT takes its default, as in a new account: PUT replaces the settings whole.
class Reminders(SQLModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {"enabled": True, "days_before": [0, 7], "hour": 8, "time_zone": "Europe/Kyiv"}
            ]
        }
    }

    enabled: bool = Field(
        default=False,
        description="Whether the messages go out (only to a verified email address).",
        schema_extra={"strict": True},
    )
    days_before: DaysBefore = Field(
        default_factory=lambda: list(DEFAULT_DAYS_BEFORE),
        description="How many days before a birthday to tell you: 1 to 5 distinct numbers "
        "in 0-30 (0 is the day itself).",
    )
    hour: int = Field(
        default=DEFAULT_HOUR,
        ge=0,
        le=23,
        description="The hour of the day the message goes out, in `time_zone`.",
        schema_extra={"strict": True},
    )
    time_zone: TimeZoneName = Field(
        default=DEFAULT_TIME_ZONE,
        max_length=64,
        description="An IANA time zone name, as for birthdays.",
        schema_extra={"examples": ["Europe/Kyiv"]},
    )

    @classmethod
    def of(cls, settings: Any) -> "Reminders":
        """What the API shows of a settings row (or the defaults, for None)."""
        if settings is None:
            return cls()
        return cls(
            enabled=settings.enabled,
            days_before=settings.days_before,
            hour=settings.hour,
            time_zone=settings.time_zone,
        )
