"""Every SQLModel class: the tables and their Create / Update / Public variants.

Request models validate everything a client sends; a table model is never a request body
(it skips validation and would accept `id` or `owner_id` from the client).
"""

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal

import pydantic
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, EmailStr, StringConstraints, field_validator
from sqlalchemy import (
    Column,
    Computed,
    DateTime,
    Dialect,
    ForeignKey,
    FunctionElement,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    column,
    extract,
    false,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import column_property
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Field, SQLModel, col

# Stable constraint names, so that migrations can refer to them on every database.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The largest id a PostgreSQL `integer` column holds; larger ids cannot exist.
MAX_ID = 2**31 - 1


# --- Validated field types ----------------------------------------------------------------


def no_control_characters(value: str, *, allowed: str = "") -> str:
    # Cc: C0/C1 controls and DEL (NUL included); Cs: lone surrogates, which no database stores.
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and char not in allowed:
            # The character itself is not repeated: it may be part of a password.
            raise ValueError("must not contain control characters")
    return value


def _note(value: str) -> str:
    no_control_characters(value, allowed="\n\r\t")
    # A note must come back from an export and an import as it was: vCard has no way to
    # write "\r", so line breaks are "\n". (And an empty note is none: see ContactBase.)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _empty_note_is_none(value: str | None) -> str | None:
    # CSV cannot tell an empty note from none: both are an empty cell.
    return value or None


def _bare_address(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # EmailStr would also take "Name <address>" and keep the address: refuse it instead.
    if "<" in value or ">" in value:
        raise ValueError("must be a bare email address, without a name or angle brackets")
    return value.strip().lower()


def normalized_email(text: str) -> str:
    """An email as signup stores it, for finding a user at login: trimmed, lower-cased and
    normalised by email-validator (Unicode NFC, internationalised domains decoded)."""
    text = text.strip().lower()
    try:
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, UnicodeError):
        return text  # no user has it, and the login says so like for any unknown email


# 7 to 15 digits, an optional leading "+", and the usual separators between them.
PHONE_PATTERN = re.compile(r"^\+?[ .()\-]*(?:[0-9][ .()\-]*){7,15}$")


def _phone_number(value: str) -> str:
    if not PHONE_PATTERN.fullmatch(value):
        if not re.fullmatch(r"\+?[0-9 .()\-]*", value):
            raise ValueError("use digits with an optional leading +, spaces, '-', '.', '(' and ')'")
        digits = sum(char.isdigit() for char in value)
        raise ValueError(f"must have 7 to 15 digits, not {digits}")
    return value


def _iso_date_text(value: Any) -> Any:
    # Pydantic alone would also take numbers (Unix time) and datetimes for a date.
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _not_in_the_future(value: date) -> date:
    # Not after today anywhere on Earth: the earliest time zone is UTC+14.
    if value > datetime.now(timezone(timedelta(hours=14))).date():
        raise ValueError("must not be in the future")
    return value


# bcrypt reads at most 72 bytes; longer passwords are refused, never cut short.
MAX_PASSWORD_BYTES = 72


def is_usable_password(password: str) -> bool:
    """Whether bcrypt can take `password` whole: UTF-8, at most 72 bytes, no NUL."""
    try:
        encoded = password.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        return False
    return len(encoded) <= MAX_PASSWORD_BYTES and b"\x00" not in encoded


def _fits_bcrypt(value: str) -> str:
    no_control_characters(value)
    if not is_usable_password(value):
        raise ValueError(f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")
    return value


Email = Annotated[EmailStr, BeforeValidator(_bare_address)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_control_characters),
]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_control_characters),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=32),
    AfterValidator(_phone_number),
    pydantic.Field(json_schema_extra={"pattern": PHONE_PATTERN.pattern}),
]
Birthday = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_not_in_the_future)]
Notes = Annotated[
    str,
    StringConstraints(max_length=1000),
    AfterValidator(_note),
]
Password = Annotated[str, StringConstraints(min_length=8), AfterValidator(_fits_bcrypt)]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, **kwargs)


# --- Users ----------------------------------------------------------------------------------


# Fields a client may send about themselves.
class UserBase(SQLModel):
    email: Email = Field(max_length=254, schema_extra={"examples": ["ann@example.com"]})
    full_name: FullName | None = Field(
        default=None, max_length=100, schema_extra={"examples": ["Ann Smith"]}
    )


# The `users` table.
class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: Email = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    # True once a message sent to `email` came back through its link (or a reset).
    email_verified: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Counts the changes of `email`. The tokens of messages are bound to it, so that a token
    # of an earlier address stays dead even when the account changes back to that address.
    email_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = timestamp()


# Examples in the docs, which Swagger UI fills in for "Try it out".
EXAMPLE_PASSWORD = "correct horse battery"


# The signup body.
class UserCreate(UserBase):
    password: Password = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})


# What the API shows of a user: never the password hash. Plain types, like ContactPublic.
class UserPublic(SQLModel):
    id: int
    email: str = Field(schema_extra={"json_schema_extra": {"format": "email"}})
    full_name: str | None
    email_verified: bool
    created_at: datetime


# --- Sessions and tokens ---------------------------------------------------------------------


# One login: its refresh token rotates, and revoking it ends its access tokens too.
class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    # The `jti` of the one refresh token of this session that may still be used.
    refresh_token_id: str = Field(max_length=32)
    created_at: datetime = timestamp()
    # Fixed at login: rotating the refresh token does not extend the session.
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The token endpoint's answer (RFC 6749 §5.1).
class Token(SQLModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


# The logout body.
class RefreshTokenIn(SQLModel):
    refresh_token: str = Field(
        schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]}
    )


# The password change body.
class PasswordChange(SQLModel):
    current_password: str = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})
    new_password: Password = Field(schema_extra={"examples": ["battery staple horse"]})


# --- The account: changes, verification, recovery ---------------------------------------------


# The PATCH /users/me body: a new name freely; a new email only with the current password.
class UserUpdate(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"full_name": "Ann Lee-Smith"}]}}

    full_name: FullName | None = Field(default=None, max_length=100)
    email: Email | None = Field(default=None, max_length=254)
    current_password: str | None = None

    @pydantic.model_validator(mode="after")
    def _email_needs_the_password(self) -> "UserUpdate":
        if self.email is not None and self.current_password is None:
            raise ValueError("changing the email needs current_password")
        return self


# The DELETE /users/me body.
class AccountDeletion(SQLModel):
    current_password: str = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})


# The token a message's link carries, for POST /auth/verify-email.
class EmailToken(SQLModel):
    token: str = Field(schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]})


# The forgot-password body.
class PasswordForgotten(SQLModel):
    # Any text: an address nobody has is answered like a registered one, so it need not be
    # valid either (and a 422 for it would tell nothing, but cost a test of its own).
    # Trimmed first, like every email: a pasted address with a trailing tab or line break is
    # still that address.
    email: Annotated[
        str, StringConstraints(strip_whitespace=True), AfterValidator(no_control_characters)
    ] = Field(max_length=320, schema_extra={"examples": ["ann@example.com"]})


# The reset-password body.
class PasswordReset(SQLModel):
    token: str = Field(schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]})
    new_password: Password = Field(schema_extra={"examples": ["battery staple horse"]})


# An answer that only says what happens next.
class Message(SQLModel):
    detail: str


# --- Contacts --------------------------------------------------------------------------------


def _label_name(value: str) -> str:
    no_control_characters(value)
    # Files join a contact's labels with these (CSV with ";", vCard CATEGORIES with ",").
    if "," in value or ";" in value:
        raise ValueError("must not contain ',' or ';'")
    return value


LabelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(_label_name),
    pydantic.Field(json_schema_extra={"pattern": "^[^,;]+$"}),
]
LabelNames = Annotated[list[LabelName], pydantic.Field(max_length=20)]


def label_key(name: str) -> str:
    """What two names that differ only in case have in common (`Work`, `WORK`)."""
    return name.strip().casefold()


def label_order(name: str) -> tuple[str, str, str]:
    """Names in the order the API lists them: by name, case and accents aside (`école`
    between `Book club` and `Family`), the same everywhere whatever the database's collation."""
    bare = "".join(
        char for char in unicodedata.normalize("NFD", name) if not unicodedata.combining(char)
    )
    return bare.casefold(), name.casefold(), name


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


# --- Labels ----------------------------------------------------------------------------------


# The `labels` table: each user's own. `name_key` is the name case-folded (computed here, not
# by the database: SQLite's lower() folds ASCII only), unique per owner, so names match
# case-insensitively and keep the spelling first given.
class Label(SQLModel, table=True):
    __tablename__ = "labels"
    __table_args__ = (Index(None, "owner_id", "name_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")])
    name: str = Field(max_length=50)
    name_key: str = Field(max_length=200)


# The `contact_labels` table: which contact has which label, a row per pair.
class ContactLabel(SQLModel, table=True):
    __tablename__ = "contact_labels"
    __table_args__ = (Index(None, "label_id", "contact_id"),)

    contact_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("contacts.id", ondelete="CASCADE")]
    )
    label_id: int = Field(
        primary_key=True, sa_column_args=[ForeignKey("labels.id", ondelete="CASCADE")]
    )


class _joined(FunctionElement[str]):
    """The names of a group joined with ';' (which no label name holds), in any order."""

    type = String()
    inherit_cache = True


@compiles(_joined)
def _group_concat(element: _joined, compiler: SQLCompiler, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ';')"


@compiles(_joined, "postgresql")
def _string_agg(element: _joined, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ';')"


class LabelList(TypeDecorator[list[str]]):
    """The joined names as a list, in the API's order."""

    impl = String()
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str]:
        return sorted(value.split(";"), key=label_order) if value else []


# A contact's labels as a correlated subquery: every query of contacts (the one of GET, a
# page of 20, 2,250 birthdays) gets them in the same round trip, through the pairs' primary
# key, instead of a query per contact or one more query.
Contact.labels = column_property(  # type: ignore[assignment]
    type_coerce(
        select(_joined(col(Label.name)))
        .join_from(ContactLabel, Label, col(ContactLabel.label_id) == col(Label.id))
        .where(col(ContactLabel.contact_id) == col(Contact.id))
        .scalar_subquery(),
        LabelList(),
    ),
    expire_on_flush=True,
)


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


# The create and rename body of a label.
class LabelIn(SQLModel):
    name: LabelName = Field(max_length=50, schema_extra={"examples": ["Family"]})


# What the API shows of a label: `contacts` counts the contacts in the book that have it.
class LabelPublic(SQLModel):
    id: int
    name: str
    contacts: int


# --- Import ----------------------------------------------------------------------------------


# A record of an imported file that was not created, because its email is in the book already.
class SkippedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    reason: str


# A record of an imported file that could not be read or broke a rule of ContactCreate.
class RefusedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    detail: str


# The import's answer: how many contacts were created, and what happened to the rest.
class ImportReport(SQLModel):
    created: int
    skipped: list[SkippedRecord]
    errors: list[RefusedRecord]


# --- Service ---------------------------------------------------------------------------------


# What the health checks answer.
class ServiceStatus(SQLModel):
    status: Literal["ok", "unavailable"]
