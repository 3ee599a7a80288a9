"""What the API shows of a contact: its public representation, the pages of the book and of
the trash, and the columns a query reads them from.

Plain types, not the bodies' checked ones: the values were checked on the way in, and
checking every email again on the way out made a list of 2,250 birthdays cost 170 ms
instead of 10.
"""

from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel

from contacts_api.models.contacts import Contact


# An email of a contact.
class ContactEmail(SQLModel):
    address: str = Field(schema_extra={"json_schema_extra": {"format": "email"}})
    label: str | None


# A phone number of a contact.
class ContactPhone(SQLModel):
    number: str
    label: str | None


# A postal address of a contact.
class ContactAddress(SQLModel):
    label: str | None
    po_box: str | None
    extended: str | None
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None


# A website of a contact.
class ContactWebsite(SQLModel):
    url: str
    label: str | None


# What the API shows of a contact: `email` and `phone` are the primary entries' values.
class ContactPublic(SQLModel):
    id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    job_title: str | None
    email: str | None = Field(schema_extra={"json_schema_extra": {"format": "email"}})
    phone: str | None
    emails: list[ContactEmail]
    phones: list[ContactPhone]
    addresses: list[ContactAddress]
    websites: list[ContactWebsite]
    birthday: str | None
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
    age: int | None = Field(description="The age reached on `next_birthday`; null without a year.")


# A contact in the trash.
class TrashedContactPublic(ContactPublic):
    deleted_at: datetime


# One page of the trash, most recently deleted first.
class TrashPage(SQLModel):
    items: list[TrashedContactPublic]
    total: int
    limit: int
    offset: int


# --- Columns of the public representation -------------------------------------------------


def primary(entries: Any, key: str) -> Any:
    """The value of the first entry of a JSON list column, computed by the database."""
    return entries[(0, key)].as_string()


def public_columns() -> dict[str, Any]:
    """What each field of ContactPublic is read from: a column, or for `email` and `phone` the
    first entry of the list (`labels` is attached by labels.py)."""
    table = Contact.__table__.c  # type: ignore[attr-defined]
    columns = {name: table[name] for name in ContactPublic.model_fields if name in table}
    columns["email"] = primary(table.emails, "address").label("email")
    columns["phone"] = primary(table.phones, "number").label("phone")
    return columns


def public(contact: Contact) -> ContactPublic:
    """The public representation of a contact entity (its labels loaded with it)."""
    values = {name: getattr(contact, name) for name in PUBLIC_TABLE_FIELDS}
    values["email"] = contact.emails[0]["address"] if contact.emails else None
    values["phone"] = contact.phones[0]["number"] if contact.phones else None
    return ContactPublic.model_validate(values)


PUBLIC_TABLE_FIELDS = [
    name for name in ContactPublic.model_fields if name not in ("email", "phone")
]
