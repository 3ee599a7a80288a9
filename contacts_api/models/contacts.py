"""Contacts: the table, the create / update bodies and what the API shows.

A contact is what people keep in an address book: a name (first, last or only a company) is
all it needs; it may have several emails, phones, postal addresses and websites, each with a
free-text label, the first entry of each the primary one.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Self

import pydantic
from pydantic import BeforeValidator, field_validator, model_validator
from sqlalchemy import (
    JSON,
    Column,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from contacts_api.models.types import (
    AddressPart,
    Birthday,
    Email,
    EntryLabel,
    LabelNames,
    Name,
    Notes,
    OrganizationText,
    PhoneNumber,
    UTCDateTime,
    WebsiteUrl,
    blank_is_none,
    empty_note_is_none,
    timestamp,
)

# A name, company or label that a client may leave blank: blank is none.
OptionalName = Annotated[Name | None, BeforeValidator(blank_is_none)]
OptionalOrganizationText = Annotated[OrganizationText | None, BeforeValidator(blank_is_none)]
OptionalLabel = Annotated[EntryLabel | None, BeforeValidator(blank_is_none)]
OptionalPart = Annotated[AddressPart | None, BeforeValidator(blank_is_none)]

MAX_EMAILS = MAX_PHONES = 20
MAX_ADDRESSES = MAX_WEBSITES = 10
ADDRESS_PARTS = ("po_box", "extended", "street", "city", "region", "postal_code", "country")


# --- Entries of a contact's lists, as a client sends them --------------------------------


# One email of a contact.
class ContactEmailIn(SQLModel):
    address: Email = Field(max_length=254, schema_extra={"examples": ["ann.smith@example.com"]})
    label: OptionalLabel = Field(default=None, max_length=30, schema_extra={"examples": ["work"]})


# One phone number of a contact.
class ContactPhoneIn(SQLModel):
    number: PhoneNumber = Field(max_length=64, schema_extra={"examples": ["+1 (555) 010-0199"]})
    label: OptionalLabel = Field(default=None, max_length=30, schema_extra={"examples": ["mobile"]})


# One postal address of a contact: the parts of vCard's ADR, at least one of them given.
class ContactAddressIn(SQLModel):
    label: OptionalLabel = Field(default=None, max_length=30, schema_extra={"examples": ["home"]})
    po_box: OptionalPart = Field(default=None, max_length=200)
    extended: OptionalPart = Field(default=None, max_length=200)
    street: OptionalPart = Field(
        default=None, max_length=200, schema_extra={"examples": ["12 Baker Street"]}
    )
    city: OptionalPart = Field(default=None, max_length=200, schema_extra={"examples": ["London"]})
    region: OptionalPart = Field(default=None, max_length=200)
    postal_code: OptionalPart = Field(
        default=None, max_length=200, schema_extra={"examples": ["NW1 6XE"]}
    )
    country: OptionalPart = Field(
        default=None, max_length=200, schema_extra={"examples": ["United Kingdom"]}
    )

    @model_validator(mode="after")
    def _has_a_part(self) -> Self:
        if all(getattr(self, part) is None for part in ADDRESS_PARTS):
            raise ValueError("an address needs at least one part (street, city, ...)")
        return self


# One website of a contact.
class ContactWebsiteIn(SQLModel):
    url: WebsiteUrl = Field(max_length=2000, schema_extra={"examples": ["https://example.com"]})
    label: OptionalLabel = Field(default=None, max_length=30, schema_extra={"examples": ["blog"]})


Emails = Annotated[list[ContactEmailIn], pydantic.Field(max_length=MAX_EMAILS)]
Phones = Annotated[list[ContactPhoneIn], pydantic.Field(max_length=MAX_PHONES)]
Addresses = Annotated[list[ContactAddressIn], pydantic.Field(max_length=MAX_ADDRESSES)]
Websites = Annotated[list[ContactWebsiteIn], pydantic.Field(max_length=MAX_WEBSITES)]


def _each_address_once(emails: list[ContactEmailIn] | None) -> list[ContactEmailIn] | None:
    seen: set[str] = set()
    for entry in emails or []:
        if entry.address in seen:
            raise ValueError(f"{entry.address} appears twice: an address appears once a contact")
        seen.add(entry.address)
    return emails


# --- Bodies --------------------------------------------------------------------------------


# Fields a client may send about a contact (`labels` is not a column: see ContactCreate).
class ContactBase(SQLModel):
    first_name: OptionalName = Field(
        default=None, max_length=50, schema_extra={"examples": ["Ann"]}
    )
    last_name: OptionalName = Field(
        default=None, max_length=50, schema_extra={"examples": ["Smith"]}
    )
    company: OptionalOrganizationText = Field(
        default=None, max_length=100, schema_extra={"examples": ["Acme Ltd"]}
    )
    job_title: OptionalOrganizationText = Field(
        default=None, max_length=100, schema_extra={"examples": ["Engineer"]}
    )
    emails: Emails = Field(default_factory=list)
    phones: Phones = Field(default_factory=list)
    addresses: Addresses = Field(default_factory=list)
    websites: Websites = Field(default_factory=list)
    birthday: Birthday | None = Field(
        default=None,
        description="`YYYY-MM-DD`, or `--MM-DD` for a birthday without a year.",
        schema_extra={"examples": ["1990-04-15"]},
    )
    notes: Notes | None = Field(
        default=None, max_length=10_000, schema_extra={"examples": ["Met at PyCon; prefers email."]}
    )
    favorite: bool = False

    _emails = field_validator("emails")(_each_address_once)
    # After every other check of the field.
    _notes = field_validator("notes")(empty_note_is_none)


NEEDS_A_NAME = "a contact needs a name: first_name, last_name or company"
EMAIL_SHORTHAND = (
    "The primary email: in a POST or PUT the same as `emails` with this one address "
    "(`null`: none); send `email` or `emails`, not both."
)
PHONE_SHORTHAND = (
    "The primary phone: in a POST or PUT the same as `phones` with this one number "
    "(`null`: none); send `phone` or `phones`, not both."
)


def check_shorthands(contact: SQLModel) -> None:
    """`email` and `phone` stand for the primary entries of `emails` and `phones`: a body may
    send one or the other of each pair."""
    for short, entries in (("email", "emails"), ("phone", "phones")):
        if short in contact.model_fields_set and entries in contact.model_fields_set:
            raise ValueError(f"send `{short}` or `{entries}`, not both")


# The create and full-replace (PUT) body.
class ContactCreate(ContactBase):
    email: Email | None = Field(default=None, max_length=254, description=EMAIL_SHORTHAND)
    phone: PhoneNumber | None = Field(default=None, max_length=64, description=PHONE_SHORTHAND)
    labels: LabelNames = Field(
        default_factory=list, schema_extra={"examples": [["Family", "Work"]]}
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "first_name": "Ann",
                    "last_name": "Smith",
                    "company": "Acme Ltd",
                    "emails": [{"address": "ann.smith@example.com", "label": "work"}],
                    "phones": [{"number": "+1 (555) 010-0199", "label": "mobile"}],
                    "birthday": "1990-04-15",
                    "labels": ["Work"],
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _shorthands_and_a_name(self) -> Self:
        check_shorthands(self)
        if self.first_name is None and self.last_name is None and self.company is None:
            raise ValueError(NEEDS_A_NAME)
        return self

    def columns(self) -> dict[str, Any]:
        """The values of the contact's columns (`email` and `phone` as the lists they stand for)."""
        columns = self.model_dump(exclude={"email", "phone", "labels"})
        if "email" in self.model_fields_set:
            columns["emails"] = (
                [] if self.email is None else [{"address": self.email, "label": None}]
            )
        if "phone" in self.model_fields_set:
            columns["phones"] = (
                [] if self.phone is None else [{"number": self.phone, "label": None}]
            )
        return columns


# The PATCH body: any subset of the fields; a field that has no "none" may not be null.
class ContactUpdate(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"phone": "+44 20 7946 0958"}]}}

    first_name: OptionalName = Field(default=None, max_length=50)
    last_name: OptionalName = Field(default=None, max_length=50)
    company: OptionalOrganizationText = Field(default=None, max_length=100)
    job_title: OptionalOrganizationText = Field(default=None, max_length=100)
    email: Email | None = Field(
        default=None,
        max_length=254,
        description="Replaces the address of the primary email (keeping its label), or adds "
        "one; `null` removes the primary email.",
    )
    phone: PhoneNumber | None = Field(
        default=None,
        max_length=64,
        description="Replaces the number of the primary phone (keeping its label), or adds "
        "one; `null` removes the primary phone.",
    )
    emails: Emails | None = None
    phones: Phones | None = None
    addresses: Addresses | None = None
    websites: Websites | None = None
    birthday: Birthday | None = None
    notes: Notes | None = Field(default=None, max_length=10_000)
    favorite: bool | None = None
    labels: LabelNames | None = None

    _emails = field_validator("emails")(_each_address_once)
    _notes = field_validator("notes")(empty_note_is_none)

    @field_validator("emails", "phones", "addresses", "websites", "favorite", "labels")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: an omitted field keeps its value.
        if value is None:
            raise ValueError("may be omitted but not null (a list takes [])")
        return value

    @model_validator(mode="after")
    def _one_of_each_shorthand(self) -> Self:
        check_shorthands(self)
        return self

    def changes(self, contact: "Contact") -> dict[str, Any]:
        """The new values of the columns this PATCH changes on `contact`."""
        changes = self.model_dump(exclude_unset=True, exclude={"email", "phone", "labels"})
        for short, entries, key in (("email", "emails", "address"), ("phone", "phones", "number")):
            if short not in self.model_fields_set:
                continue
            current = list(getattr(contact, entries))
            value = getattr(self, short)
            if value is None:
                current = current[1:]
            elif current:
                current[0] = current[0] | {key: value}
            else:
                current = [{key: value, "label": None}]
            changes[entries] = current
        if short_of_a_name(contact, changes):
            raise ValueError(NEEDS_A_NAME)
        return changes


def short_of_a_name(contact: "Contact", changes: dict[str, Any]) -> bool:
    """Whether `contact` with `changes` would have no name at all."""
    return all(
        changes.get(field, getattr(contact, field)) is None
        for field in ("first_name", "last_name", "company")
    )


# --- The table ----------------------------------------------------------------------------

# The book is the contacts not in the trash: the indexes of every query of the book hold
# only those (partial indexes).
IN_THE_BOOK = text("deleted_at IS NULL")
IN_THE_TRASH = text("deleted_at IS NOT NULL")


def partial_index(where: Any, *columns: Any, unique: bool = False) -> Index:
    return Index(None, *columns, unique=unique, postgresql_where=where, sqlite_where=where)


# month * 100 + day of the birthday, from its text (`1990-05-17` or `--05-17`: the last five
# characters are the month and day of both), as the database computes it: the same SQL on
# PostgreSQL and SQLite. Migration 0007 writes the same expression.
BIRTHDAY_KEY = (
    "CAST(substr(birthday, length(birthday) - 4, 2) AS INTEGER) * 100"
    " + CAST(substr(birthday, length(birthday) - 1, 2) AS INTEGER)"
)
# The last segment of a card's CardDAV path, as the database computes it for the index that
# finds a card by it (the same text on PostgreSQL and SQLite). Migration 0014 writes it too.
DAV_HREF = "coalesce(dav_name, uid || '.vcf')"
# Where a contact stands in the list: by last name, else by first name, else by company.
SORT_NAME = "coalesce(last_name, first_name, company)"

# Bumped by SQLAlchemy on every UPDATE through the ORM, which then writes
# `UPDATE ... WHERE id = :id AND version = :version_read`: of two writers that read one
# version, the database lets exactly one change the row (the other gets StaleDataError).
# The ETag of a contact is made of it.
VERSION = Column("version", Integer, nullable=False, server_default=text("1"))


def json_list() -> Any:
    # JSON, not JSONB: PostgreSQL keeps the text as written, so the entries' keys come back
    # in the order the API writes them.
    return Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )


# The longest vCard UID a contact keeps (a card with a longer one gets a new one).
MAX_UID_LENGTH = 255


def new_uid() -> str:
    """The vCard UID of a contact that came without one."""
    return f"urn:uuid:{uuid.uuid4()}"


# The `contacts` table. The keys that the list order and the birthday index use are computed
# by the database (generated columns), so a row written by plain SQL (COPY, a restore, a data
# migration) is found as much as one written through the API; so is what search looks for in
# the lists of emails and phones (expressions that the database's indexes hold, see
# contact_search.py).
class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        partial_index(IN_THE_BOOK, "owner_id", "sort_name", "first_name", "id"),
        partial_index(IN_THE_BOOK, "owner_id", "birthday_key"),
        # The trash page, newest deletion first; and the purge, oldest first over every owner.
        partial_index(IN_THE_TRASH, "owner_id", "deleted_at", "id"),
        partial_index(IN_THE_TRASH, "deleted_at"),
        # A card by its CardDAV name (dav/): the name its creator chose, else `{uid}.vcf`.
        Index("ix_contacts_owner_id_dav_href", "owner_id", text(DAV_HREF)),
    )
    # The computed keys come back in the INSERT's or UPDATE's RETURNING, instead of being
    # expired and loaded later (which an async session cannot do on attribute access).
    __mapper_args__ = {"eager_defaults": True, "version_id_col": VERSION}

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")])
    first_name: str | None = Field(default=None, max_length=50)
    last_name: str | None = Field(default=None, max_length=50)
    company: str | None = Field(default=None, max_length=100)
    job_title: str | None = Field(default=None, max_length=100)
    # Lists of {"address", "label"}, {"number", "label"}, the address parts, {"url", "label"}.
    emails: list[dict[str, Any]] = json_list()
    phones: list[dict[str, Any]] = json_list()
    addresses: list[dict[str, Any]] = json_list()
    websites: list[dict[str, Any]] = json_list()
    # `YYYY-MM-DD`, or `--MM-DD` when the year is unknown.
    birthday: str | None = Field(default=None, max_length=10)
    notes: str | None = Field(default=None, sa_type=Text)
    favorite: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The vCard UID: kept from an imported card, made for a new contact (and by the database
    # for a row written by plain SQL without one: migration 0007's default).
    uid: str = Field(default_factory=new_uid, max_length=MAX_UID_LENGTH)
    # The vCard properties that no field holds (PHOTO, NICKNAME, X-...), as their cards had
    # them: unfolded content lines, each ending in CRLF. Written back into every vCard.
    kept_properties: str | None = Field(default=None, sa_type=Text)
    # The last segment of the card's CardDAV path when the device that made it with a PUT
    # chose one other than `{uid}.vcf` (iOS and DAVx5 choose their own); None: `{uid}.vcf`.
    dav_name: str | None = Field(default=None, max_length=255)
    sort_name: str | None = Field(
        default=None, sa_column=Column(String(100), Computed(SORT_NAME, persisted=True))
    )
    birthday_key: int | None = Field(
        default=None, sa_column=Column(Integer, Computed(BIRTHDAY_KEY, persisted=True))
    )
    version: int | None = Field(default=None, sa_column=VERSION)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    # When the contact went to the trash; None while it is in the book.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # The names of its labels, loaded in the same SELECT as the contact (see labels.py).
    labels: ClassVar[list[str]]


def birthday_key(birthday: date) -> int:
    """The key of a day of the year, as the database computes it (for the bounds of a query)."""
    return birthday.month * 100 + birthday.day


def etag(contact: Any) -> str:
    """The strong ETag of a contact's current representation."""
    return f'"{contact.id}.{contact.version}"'
