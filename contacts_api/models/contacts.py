"""Contacts: the table, the create / update bodies and what the API shows."""

from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import field_validator
from sqlalchemy import (
    Column,
    Computed,
    ForeignKey,
    Index,
    Integer,
    column,
    extract,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from contacts_api.models.types import (
    Birthday,
    Email,
    LabelNames,
    Name,
    Notes,
    Phone,
    UTCDateTime,
    _empty_note_is_none,
    timestamp,
)


# Fields a client may send about a contact (`labels` is not a column: see ContactCreate).
class ContactBase(SQLModel):
    first_name: Name = Field(max_length=50, schema_extra={"examples": ["Ann"]})
    last_name: Name = Field(max_length=50, schema_extra={"examples": ["Smith"]})
    email: Email = Field(max_length=254, schema_extra={"examples": ["ann.smith@example.com"]})
    phone: Phone = Field(max_length=32, schema_extra={"examples": ["+1 (555) 010-0199"]})
    birthday: Birthday = Field(schema_extra={"examples": ["1990-04-15"]})
    notes: Notes | None = Field(
        default=None, max_length=1000, schema_extra={"examples": ["Met at PyCon; prefers email."]}
    )
    favorite: bool = False

    # After every other check of the field (SQLModel's max_length runs after Notes' own).
    _notes = field_validator("notes")(_empty_note_is_none)


# month * 100 + day of the birthday, as the database computes it: EXTRACT on PostgreSQL,
# STRFTIME on SQLite. Migration 0004 writes the same expression.
BIRTHDAY_KEY = extract("month", column("birthday")) * 100 + extract("day", column("birthday"))

# The book is the contacts not in the trash: the indexes of every query of the book hold
# only those (partial indexes), and a trashed contact's email is free again.
IN_THE_BOOK = text("deleted_at IS NULL")
IN_THE_TRASH = text("deleted_at IS NOT NULL")


def partial_index(where: Any, *columns: str, unique: bool = False) -> Index:
    return Index(None, *columns, unique=unique, postgresql_where=where, sqlite_where=where)


# Bumped by SQLAlchemy on every UPDATE through the ORM, which then writes
# `UPDATE ... WHERE id = :id AND version = :version_read`: of two writers that read one
# version, the database lets exactly one change the row (the other gets StaleDataError).
# The ETag of a contact is made of it.
VERSION = Column("version", Integer, nullable=False, server_default=text("1"))


# The `contacts` table. `birthday_key` lets an index find birthdays; the database computes it
# from `birthday` (a generated column), so a row written by plain SQL (COPY, a restore, a data
# migration) has the right key as much as one written through the API.
class Contact(ContactBase, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        partial_index(IN_THE_BOOK, "owner_id", "email", unique=True),
        partial_index(IN_THE_BOOK, "owner_id", "last_name", "first_name", "id"),
        partial_index(IN_THE_BOOK, "owner_id", "birthday_key"),
        # The trash page, newest deletion first; and the purge, oldest first over every owner.
        partial_index(IN_THE_TRASH, "owner_id", "deleted_at", "id"),
        partial_index(IN_THE_TRASH, "deleted_at"),
    )
    # The computed key comes back in the INSERT's or UPDATE's RETURNING, instead of being
    # expired and loaded later (which an async session cannot do on attribute access).
    __mapper_args__ = {"eager_defaults": True, "version_id_col": VERSION}

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")])
    birthday_key: int | None = Field(
        default=None,
        sa_column=Column(Integer, Computed(BIRTHDAY_KEY, persisted=True), nullable=False),
    )
    favorite: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    version: int | None = Field(default=None, sa_column=VERSION)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    # When the contact went to the trash; None while it is in the book.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # The names of its labels, loaded in the same SELECT as the contact (see below).
    labels: ClassVar[list[str]]


def birthday_key(birthday: date) -> int:
    """The key of `birthday`, as the database computes it (for the bounds of a query)."""
    return birthday.month * 100 + birthday.day


def etag(contact: Any) -> str:
    """The strong ETag of a contact's current representation."""
    return f'"{contact.id}.{contact.version}"'


# The create and full-replace (PUT) body.
class ContactCreate(ContactBase):
    labels: LabelNames = Field(
        default_factory=list, schema_extra={"examples": [["Family", "Work"]]}
    )


# The PATCH body: every field optional, but a required field may not be set to null.
class ContactUpdate(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"phone": "+44 20 7946 0958"}]}}

    first_name: Name | None = Field(default=None, max_length=50)
    last_name: Name | None = Field(default=None, max_length=50)
    email: Email | None = Field(default=None, max_length=254)
    phone: Phone | None = Field(default=None, max_length=32)
    birthday: Birthday | None = None
    notes: Notes | None = Field(default=None, max_length=1000)
    favorite: bool | None = None
    labels: LabelNames | None = None

    _notes = field_validator("notes")(_empty_note_is_none)

    @field_validator("first_name", "last_name", "email", "phone", "birthday", "favorite", "labels")
    @classmethod
    def _required_fields_are_not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: an omitted field keeps its value.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


# What the API shows of a contact. Plain types, not ContactBase's: the values were validated
# on the way in, and checking every email again on the way out made a list of 2,250 birthdays
# cost 170 ms instead of 10.
class ContactPublic(SQLModel):
    id: int
    first_name: str
    last_name: str
    email: str = Field(schema_extra={"json_schema_extra": {"format": "email"}})
    phone: str
    birthday: date
    notes: str | None
    favorite: bool
    labels: list[str]
    created_at: datetime
    updated_at: datetime


# One page of a contact list; `total` counts every match.
class ContactPage(SQLModel):
    items: list[ContactPublic]
    total: int
    limit: int
    offset: int


# A contact with its coming birthday.
class ContactBirthday(ContactPublic):
    next_birthday: date
    days_until: int


# A contact in the trash.
class TrashedContactPublic(ContactPublic):
    deleted_at: datetime


# One page of the trash, most recently deleted first.
class TrashPage(SQLModel):
    items: list[TrashedContactPublic]
    total: int
    limit: int
    offset: int
