"""What every reader gives the import route: one `Record` per card or row, in file order.

A card or a row of another program is first a `Draft`: the values found, by the names they
have in the file. `to_record` then checks that a contact can be made of it, and says in words
which field is missing or wrong when not (`no birthday (BDAY)`), so that a report never
repeats a parser's complaint about a line.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

# A bound on the work of one import: about twice the records of a realistic file at the
# default body limit.
MAX_RECORDS = 20_000


class NotAContactFile(ValueError):
    """The upload is neither a vCard nor a CSV file with a header this service reads."""


class WrongValue(ValueError):
    """One field of a record cannot be used; the message says which and why, in words."""


@dataclass
class Record:
    """One record of an uploaded file: its fields, or why they could not be read."""

    item: int  # counted from 1 in file order
    fields: dict[str, Any] | None = None  # None when the record cannot be read
    problem: str = ""


def check_count(count: int) -> None:
    if count > MAX_RECORDS:
        raise NotAContactFile(f"The file holds {count} records, more than {MAX_RECORDS}: split it")


class Sources(NamedTuple):
    """Where a file keeps each field, for the words of a report: `no phone (TEL)`."""

    first_name: str
    last_name: str
    name: str  # for a record with neither
    email: str
    phone: str
    birthday: str


# The order of a report's words: that of the fields of a contact.
FIELDS = ("version", "name", "email", "phone", "birthday", "notes", "favorite", "labels")


@dataclass
class Draft:
    """The values of a card or a row, before the checks that make them a contact's fields."""

    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    phone: str | None = None
    birthday: str | None = None  # YYYY-MM-DD
    notes: str | None = None
    favorite: bool = False
    labels: list[str] = field(default_factory=list)
    # A field (one of FIELDS) whose value was found but cannot be used, and why.
    wrong: dict[str, str] = field(default_factory=dict)


def to_record(item: int, draft: Draft, sources: Sources) -> Record:
    """The draft's fields, or every reason a contact cannot be made of it."""
    first_name, last_name = draft.first_name.strip(), draft.last_name.strip()
    email = (draft.email or "").strip()
    phone = _phone_text(draft.phone or "")
    missing = {}
    if not first_name and not last_name:
        missing["name"] = f"no name ({sources.name})"
    elif not first_name:
        missing["name"] = f"no first name ({sources.first_name})"
    elif not last_name:
        missing["name"] = f"no last name ({sources.last_name})"
    if not email:
        missing["email"] = f"no email ({sources.email})"
    if not phone:
        missing["phone"] = f"no phone ({sources.phone})"
    elif not any(char.isdigit() for char in phone):
        missing["phone"] = f"phone {phone[:40]!r} has no digits"
    if draft.birthday is None:
        missing["birthday"] = f"no birthday ({sources.birthday})"
    # A value found but wrong says more than "no ..." of the same field.
    problems = missing | draft.wrong
    if problems:
        words = [problems[name] for name in FIELDS if name in problems]
        return Record(item, problem="; ".join(words))
    return Record(
        item,
        fields={
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "phone": phone,
            "birthday": draft.birthday,
            "notes": draft.notes or None,
            "favorite": draft.favorite,
            "labels": labels(draft.labels),
        },
    )


def _phone_text(value: str) -> str:
    # iPhones write the spaces of a number as no-break spaces, and some programs wrap it in
    # invisible direction marks: plain spaces, and nothing, for the phone rules to see.
    characters = []
    for char in value.strip():
        category = unicodedata.category(char)
        if category == "Zs":
            characters.append(" ")
        elif category != "Cf":
            characters.append(char)
    return "".join(characters).strip()


# The groups Google gives every contact ("* myContacts", "* starred"; "System Group: My
# Contacts" in old files; "myContacts" in its vCards and its Outlook CSV): Google's, not the
# user's labels.
GOOGLE_SYSTEM_GROUP = re.compile(r"\*|System Group:|(myContacts|starred)$")


def labels(names: list[str]) -> list[str]:
    """Label names trimmed, each once, in file order; empty names and Google's own dropped."""
    kept: dict[str, None] = {}
    for name in names:
        if name.strip() and not GOOGLE_SYSTEM_GROUP.match(name.strip()):
            kept.setdefault(name.strip(), None)
    return list(kept)


FULL_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
# vCard 4.0 (--0322, RFC 6350 §4.3.1) and Google Contacts (--03-22) write a date without a year.
NO_YEAR = re.compile(r"--\d{2}-?\d{2}")


def iso_date(text: str, year: str, month: str, day: str) -> str:
    """YYYY-MM-DD, or WrongValue when there is no such day."""
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise WrongValue(f"birthday {text[:30]!r} is not a date") from None
