"""CSV: this service's own columns out and in, and the CSV exports of Google Contacts and
Outlook in, recognised by their headers.

The standard library's `csv` reads and writes the cells. (Inside this package `import csv`
is still the standard library's: imports are absolute.)
"""

import csv
import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from contacts_api.formats.records import (
    FULL_DATE,
    NO_YEAR,
    Draft,
    NotAContactFile,
    Record,
    Sources,
    WrongValue,
    check_count,
    iso_date,
    to_record,
)

# The fields a file holds of each contact, in the order of the CSV header.
CSV_COLUMNS = (
    "first_name", "last_name", "email", "phone", "birthday", "notes", "favorite", "labels",
)  # fmt: skip
# Files written before contacts had notes, favourites and labels lack their columns.
REQUIRED_CSV_COLUMNS = CSV_COLUMNS[:5]
# The labels of a contact in one cell: no label name holds a ";".
LABEL_SEPARATOR = ";"

# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection"). An
# export puts a ' before such a value, and before a value already made of 's and such a
# character, so that an import can take exactly one ' off again.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


# --- Export -----------------------------------------------------------------------------------


def _csv_cell(value: str) -> str:
    return f"'{value}" if FORMULA_START.match(value) else value


def to_csv(contacts: Iterable[Any]) -> str:
    """CSV with the header `first_name,last_name,email,phone,birthday,notes,favorite,labels`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for contact in contacts:
        writer.writerow(
            [
                _csv_cell(contact.first_name or ""),
                _csv_cell(contact.last_name or ""),
                _csv_cell(contact.email or ""),
                # As it is: a phone holds only digits, "+", spaces and "-.()", which no
                # spreadsheet runs as a formula, and "+1 555 010 0199" is what people expect.
                contact.phone or "",
                contact.birthday or "",
                "" if contact.notes is None else _csv_cell(contact.notes),
                "true" if contact.favorite else "false",
                _csv_cell(LABEL_SEPARATOR.join(contact.labels)),
            ]
        )
    return buffer.getvalue()


# --- Import -----------------------------------------------------------------------------------


def csv_rows(text: str) -> list[list[str]]:
    """The rows of a CSV file, blank lines left out; NotAContactFile when it is no CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return [row for row in reader if row]  # a blank line is no record
    except csv.Error as exc:
        raise NotAContactFile(f"Not a readable CSV file (line {reader.line_num}): {exc}") from None


def is_outlook_header(header: list[str]) -> bool:
    names = {name.strip() for name in header}
    return "E-mail Address" in names and bool({"First Name", "Last Name"} & names)


def read_csv(rows: list[list[str]]) -> list[Record]:
    """The records of a CSV file: this service's, Google Contacts' or Outlook's."""
    header = [name.strip() for name in rows[0]]
    names = set(header)
    read_row: Callable[[int, dict[str, str]], Record]
    if "E-mail 1 - Value" in names or "Phone 1 - Value" in names:
        read_row = _google_row
    elif is_outlook_header(header):
        read_row = _outlook_row
    else:
        return _read_own_csv(rows)
    check_count(len(rows) - 1)
    records = []
    for item, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            records.append(Record(item, problem=f"Expected {len(header)} fields, found {len(row)}"))
        else:
            records.append(read_row(item, dict(zip(header, row, strict=True))))
    return records


# --- This service's CSV ---------------------------------------------------------------------


def _read_own_csv(rows: list[list[str]]) -> list[Record]:
    columns = [name.strip().lower() for name in rows[0]]
    _check_header(columns)
    check_count(len(rows) - 1)
    records = []
    for item, row in enumerate(rows[1:], start=1):
        if len(row) != len(columns):
            problem = f"Expected {len(columns)} fields, found {len(row)}"
            records.append(Record(item, problem=problem))
            continue
        fields: dict[str, Any] = dict(zip(columns, map(_csv_value, row), strict=True))
        fields.setdefault("notes", None)
        if not fields.get("favorite", "").strip():
            fields["favorite"] = False
        fields["labels"] = [
            name.strip() for name in fields.get("labels", "").split(LABEL_SEPARATOR) if name.strip()
        ]
        records.append(Record(item, fields=fields))
    return records


def _check_header(columns: list[str]) -> None:
    if len(set(columns)) != len(columns) or not set(columns) <= set(CSV_COLUMNS):
        raise NotAContactFile(
            "Not a vCard file, nor a CSV file whose header names the columns "
            f"{','.join(CSV_COLUMNS)} (notes, favorite and labels may be left out), each once, "
            "nor a CSV export of Google Contacts or Outlook"
        )
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in columns]
    if missing:
        raise NotAContactFile(f"The CSV header lacks the columns {', '.join(missing)}")


def _csv_value(cell: str) -> str:
    # Files exported before phones were written as they are have "'+1 555 ..." too.
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell[1:]) else cell


# --- Google Contacts ------------------------------------------------------------------------

# Google's export today (First Name, Last Name, Labels, "E-mail 1 - Label") and its older
# "Google CSV" (Given Name, Family Name, Group Membership, "E-mail 1 - Type") share the
# numbered value columns, and write several values in one cell: "a@x.org ::: b@y.org".
GOOGLE_SEPARATOR = " ::: "
GOOGLE_SOURCES = Sources(
    first_name="First Name",
    last_name="Last Name",
    name="First Name or Last Name",
    email="E-mail 1 - Value",
    phone="Phone 1 - Value",
    birthday="Birthday",
)
OLD_GOOGLE_SOURCES = GOOGLE_SOURCES._replace(
    first_name="Given Name", last_name="Family Name", name="Given Name or Family Name"
)


def _google_row(item: int, row: dict[str, str]) -> Record:
    old = "Given Name" in row or "Family Name" in row
    draft = Draft(
        first_name=row.get("Given Name" if old else "First Name", ""),
        last_name=row.get("Family Name" if old else "Last Name", ""),
        email=_first_value(row, "E-mail"),
        phone=_first_value(row, "Phone"),
        notes=row.get("Notes"),
    )
    if not draft.first_name.strip() and not draft.last_name.strip() and row.get("Name", "").strip():
        *given_names, draft.last_name = row["Name"].split()
        draft.first_name = " ".join(given_names)
    draft.labels = row.get("Labels", row.get("Group Membership", "")).split(GOOGLE_SEPARATOR)
    _google_birthday(draft, row.get("Birthday", "").strip())
    return to_record(item, draft, OLD_GOOGLE_SOURCES if old else GOOGLE_SOURCES)


def _first_value(row: dict[str, str], kind: str) -> str | None:
    """The first of the values of "E-mail 1 - Value", "E-mail 2 - Value", ..."""
    number = 1
    while f"{kind} {number} - Value" in row:
        values = row[f"{kind} {number} - Value"].split(GOOGLE_SEPARATOR)
        if values[0].strip():
            return values[0]
        number += 1
    return None


def _google_birthday(draft: Draft, text: str) -> None:
    match = FULL_DATE.fullmatch(text)
    try:
        if match:
            draft.birthday = iso_date(text, *match.groups())
        elif NO_YEAR.fullmatch(text):
            raise WrongValue(f"birthday {text[:30]!r} has no year")
        elif text:
            raise WrongValue(f"birthday {text[:30]!r} is not a date")
    except WrongValue as exc:
        draft.wrong["birthday"] = str(exc)


# --- Outlook --------------------------------------------------------------------------------

# Outlook writes its columns in one order, Outlook.com in another, Google's "Outlook CSV" in a
# third: every column is found by its name.
OUTLOOK_SOURCES = Sources(
    first_name="First Name",
    last_name="Last Name",
    name="First Name or Last Name",
    email="E-mail Address",
    phone="Mobile Phone, Home Phone, Business Phone or another Phone column",
    birthday="Birthday",
)
OUTLOOK_EMAILS = (
    ("E-mail Address", "E-mail Type"),
    ("E-mail 2 Address", "E-mail 2 Type"),
    ("E-mail 3 Address", "E-mail 3 Type"),
)
# The number a person is called on first; then any other "... Phone" column, in file order.
OUTLOOK_PHONES = ("Primary Phone", "Mobile Phone", "Home Phone", "Business Phone")
# Outlook writes "0/0/00" for no birthday.
OUTLOOK_NO_DATE = re.compile(r"0?0/0?0/(00)?00")
OUTLOOK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _outlook_row(item: int, row: dict[str, str]) -> Record:
    draft = Draft(
        first_name=row.get("First Name", ""),
        last_name=row.get("Last Name", ""),
        notes=row.get("Notes"),
    )
    # An address of an Exchange account ("E-mail Type" EX) is no email address: "/o=...".
    draft.email = next(
        (
            row[address]
            for address, kind in OUTLOOK_EMAILS
            if row.get(address, "").strip() and row.get(kind, "").strip().upper() != "EX"
        ),
        None,
    )
    phones = [*OUTLOOK_PHONES, *(name for name in row if name.endswith("Phone"))]
    draft.phone = next((row[name] for name in phones if row.get(name, "").strip()), None)
    draft.labels = row.get("Categories", "").split(";")
    text = row.get("Birthday", "").strip()
    month_day_year = OUTLOOK_DATE.fullmatch(text)
    iso = FULL_DATE.fullmatch(text)
    try:
        if month_day_year:
            month, day, year = month_day_year.groups()
            try:
                draft.birthday = iso_date(text, year, month, day)
            except WrongValue:
                # Outlook writes the dates of the computer's locale: 22/3/1980 in Britain.
                raise WrongValue(f"birthday {text!r} is not a date written M/D/YYYY") from None
        elif iso:
            draft.birthday = iso_date(text, *iso.groups())
        elif text and not OUTLOOK_NO_DATE.fullmatch(text):
            raise WrongValue(f"birthday {text[:30]!r} is not a date written M/D/YYYY")
    except WrongValue as exc:
        draft.wrong["birthday"] = str(exc)
    return to_record(item, draft, OUTLOOK_SOURCES)
