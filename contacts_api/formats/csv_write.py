"""CSV out, in the layout of Google Contacts' own export, which Google Contacts, Outlook and
spreadsheets read: its column names, numbered groups for each email, phone, address and
website (as many as the widest contact needs, at least one), several labels in one cell
joined by " ::: ", and Google's `* starred` for a favourite.

The standard library's `csv` writes the cells.
"""

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

NAME_COLUMNS = (
    ("First Name", "first_name"),
    ("Last Name", "last_name"),
    ("Organization Name", "company"),
    ("Organization Title", "job_title"),
    ("Birthday", "birthday"),
    ("Notes", "notes"),
)
# The columns of one address, and the part each holds.
ADDRESS_COLUMNS = (
    ("Street", "street"),
    ("City", "city"),
    ("PO Box", "po_box"),
    ("Region", "region"),
    ("Postal Code", "postal_code"),
    ("Country", "country"),
    ("Extended Address", "extended"),
)
# The numbered groups: their column name, the list they write, the value's key in an entry.
GROUPS = (
    ("E-mail", "emails", "address"),
    ("Phone", "phones", "number"),
    ("Website", "websites", "url"),
)
GOOGLE_SEPARATOR = " ::: "
STARRED = "* starred"

# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection"). An
# export puts a ' before such a value, and before a value already made of 's and such a
# character, so that an import can take exactly one ' off again.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def guarded(value: str | None) -> str:
    if value is None:
        return ""
    return f"'{value}" if FORMULA_START.match(value) else value


def header(counts: dict[str, int]) -> list[str]:
    """The header for `counts` groups of each kind ("emails": 2, ...)."""
    names = [name for name, _ in NAME_COLUMNS] + ["Labels"]
    for kind, key, _ in GROUPS[:2]:
        for number in range(1, counts[key] + 1):
            names += [f"{kind} {number} - Label", f"{kind} {number} - Value"]
    for number in range(1, counts["addresses"] + 1):
        names.append(f"Address {number} - Label")
        names += [f"Address {number} - {column}" for column, _ in ADDRESS_COLUMNS]
    for number in range(1, counts["websites"] + 1):
        names += [f"Website {number} - Label", f"Website {number} - Value"]
    return names


def _row(contact: Any, counts: dict[str, int]) -> list[str]:
    # A birthday as Google writes it, --03-22 without a year: a date, which no spreadsheet
    # runs as a command.
    row = [
        (getattr(contact, field) or "") if field == "birthday" else guarded(getattr(contact, field))
        for _, field in NAME_COLUMNS
    ]
    labels = ([STARRED] if contact.favorite else []) + list(contact.labels)
    row.append(guarded(GOOGLE_SEPARATOR.join(labels)))
    for _, key, value_key in GROUPS[:2]:
        entries = getattr(contact, key)
        for index in range(counts[key]):
            entry = entries[index] if index < len(entries) else {}
            value = entry.get(value_key)
            # A phone as it is: it holds only digits, "+", spaces and "-.()/*#", which no
            # spreadsheet runs as a formula, and "+1 555 010 0199" is what people expect.
            row += [guarded(entry.get("label")), value or "" if key == "phones" else guarded(value)]
    for index in range(counts["addresses"]):
        entry = contact.addresses[index] if index < len(contact.addresses) else {}
        row.append(guarded(entry.get("label")))
        row += [guarded(entry.get(part)) for _, part in ADDRESS_COLUMNS]
    for index in range(counts["websites"]):
        entry = contact.websites[index] if index < len(contact.websites) else {}
        row += [guarded(entry.get("label")), guarded(entry.get("url"))]
    return row


def to_csv(contacts: Iterable[Any]) -> str:
    """Google Contacts' CSV layout, one row a contact."""
    contacts = list(contacts)
    counts = {
        key: max([1, *(len(getattr(contact, key)) for contact in contacts)])
        for key in ("emails", "phones", "addresses", "websites")
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(counts))
    for contact in contacts:
        writer.writerow(_row(contact, counts))
    return buffer.getvalue()
