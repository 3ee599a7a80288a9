"""Labels: the tables of labels and of pairs, and a contact's labels in its own SELECT."""

from typing import Any

from sqlalchemy import (
    Dialect,
    ForeignKey,
    FunctionElement,
    Index,
    String,
    TypeDecorator,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import column_property
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Field, SQLModel, col

from contacts_api.models.contacts import Contact
from contacts_api.models.types import (
    LabelName,
    label_key,
    label_order,
    label_sort_key,
)


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
    # The name case and accents aside (`label_sort_key`): where the name stands in a list, for
    # a database that orders the labels itself (birthdays on PostgreSQL).
    sort_key: str = Field(max_length=200, sa_column_kwargs={"server_default": ""})


def label_names(name: str) -> dict[str, str]:
    """The columns of a label called `name`."""
    return {"name": name, "name_key": label_key(name), "sort_key": label_sort_key(name)}


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


# The create and rename body of a label.
class LabelIn(SQLModel):
    name: LabelName = Field(max_length=50, schema_extra={"examples": ["Family"]})


# What the API shows of a label: `contacts` counts the contacts in the book that have it.
class LabelPublic(SQLModel):
    id: int
    name: str
    contacts: int
