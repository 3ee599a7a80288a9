"""The tables of the service's own background work: the outbox of messages and the jobs'
schedule. Neither is ever shown by the API."""

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from contacts_api.models.types import UTCDateTime, timestamp


# The `outbox` table: one row per message not delivered yet (contacts_api/outbox.py). A
# delivered message is deleted: the database keeps no copies of mail.
class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=998)  # RFC 5322's longest line
    body: str = Field(sa_type=Text)
    # The one link the message carries: logged instead of sent when there is no SMTP_HOST.
    link: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = timestamp()
    # When a worker may take it next: now for a new message, the next retry after a failure,
    # and the end of the lease while a worker is delivering it.
    due_at: datetime = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)


# The `jobs` table: the next due time of each periodic job (contacts_api/jobs.py). The process
# that moves it forward, by a conditional UPDATE, is the one that runs the job for that time.
class JobSchedule(SQLModel, table=True):
    __tablename__ = "jobs"

    name: str = Field(primary_key=True, max_length=100)
    due_at: datetime = Field(sa_type=UTCDateTime)
