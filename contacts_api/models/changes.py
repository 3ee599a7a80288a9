"""The change log behind sync: one row per contact that says it changed, and each user's count
of the changes numbered so far. Triggers on `contacts` write the log (migration 0013), so a
row written by plain SQL is logged like one written through the API; no route writes it."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, text
from sqlmodel import Field, SQLModel

from contacts_api.models.contact_public import ContactPublic
from contacts_api.models.types import UTCDateTime

# The tombstones that the trash's purger prunes (contacts_api/trash.py).
TOMBSTONE = text("deleted")


# The `contact_changes` table: the last change of each contact of each user. A write marks
# the contact's row pending (`change_id` NULL); the first reader of the user's changes after
# it numbers the pending rows (contacts_api/changes.py). A contact that left the book (trash,
# or deleted for good) keeps its row as a tombstone (`deleted`) until the purger prunes it.
class ContactChange(SQLModel, table=True):
    __tablename__ = "contact_changes"
    __table_args__ = (
        # A page of changes, and the pending rows (`change_id IS NULL`) that a read numbers:
        # both find only the rows they return, however large the book.
        Index(None, "user_id", "change_id"),
        # The last of all changes, which the next one follows (SQLite; see `seq`).
        Index(None, "seq"),
        # The tombstones old enough to prune, over every user.
        Index(None, "changed_at", postgresql_where=TOMBSTONE, sqlite_where=TOMBSTONE),
    )

    # The user's id is part of the key: SQLite may give a purged contact's id to a new one,
    # perhaps another user's, and each user's tombstone of it must stay.
    user_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")]
    )
    # Not a foreign key: the row outlives the contact, to report its deletion.
    contact_id: int = Field(primary_key=True)
    # The change's number among the user's changes; None: pending, not numbered yet.
    change_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The contact left the book (trashed, or deleted for good).
    deleted: bool
    changed_at: datetime = Field(sa_type=UTCDateTime)
    # The order of the changes, over every user: a reader numbers the pending rows in it.
    # (Not `changed_at`: SQLite's clock has milliseconds, and two writes share one.)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The last segment of the contact's CardDAV path, kept for the day the contact is gone.
    href: str | None = Field(default=None, max_length=300)


# The `sync_states` table: how many of a user's changes have been numbered (`last_change`),
# and the number below which tokens are refused because tombstones after them were pruned
# (`horizon`). A reader of the changes locks the user's row, so reads number in turn.
class SyncState(SQLModel, table=True):
    __tablename__ = "sync_states"

    user_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")]
    )
    last_change: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    horizon: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )


# The answer of GET /contacts/changes.
class ChangesPage(SQLModel):
    changed: list[ContactPublic] = Field(
        description="Contacts created or changed since the token, in the order they changed, "
        "each once, as they are now."
    )
    deleted: list[int] = Field(
        description="Ids of contacts that left the book (trash, or deleted for good) since the "
        "token. After a first page, it may name contacts you never received: ignore those."
    )
    next: str = Field(description="The token to send as `since` next time.")
    more: bool = Field(description="The page is full: ask again with `next` at once.")
