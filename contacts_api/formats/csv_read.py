"""CSV in: Google Contacts' export (today's `First Name` layout, which this service writes too,
and the older `Given Name` one), Outlook's, and the first model's
`first_name,last_name,email,phone,birthday,notes[,favorite,labels]`; each recognised by its
header, each column found by its name.

A cell of a column that no field holds is kept for the contact's vCards: `Nickname` as
NICKNAME, middle names, prefixes and suffixes in N, a department in ORG, any other as
`X-CSV;X-COLUMN="<column>":<value>`.
"""

import csv
import io
import re
from collections.abc import Callable

from vobject.base import backslashEscape
from vobject.vcard import serializeFields

from contacts_api.formats.csv_write import ADDRESS_COLUMNS, FORMULA_START, GOOGLE_SEPARATOR
from contacts_api.formats.records import (
    Draft,
    NotAContactFile,
    Record,
    check_count,
    split_name,
)

# The first model's columns; a file of it names a first or last name and any of the others.
CSV_COLUMNS = (
    "first_name", "last_name", "email", "phone", "birthday", "notes", "favorite", "labels",
)  # fmt: skip


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


def _first_model_columns(header: list[str]) -> list[str] | None:
    columns = [name.strip().lower().replace(" ", "_") for name in header]
    if len(set(columns)) != len(columns) or not set(columns) <= set(CSV_COLUMNS):
        return None
    return columns if {"first_name", "last_name"} & set(columns) else None


NOT_READ = (
    "Not a vCard file, nor a CSV file of Google Contacts, Outlook or this service (or the "
    "first model's, whose header names first_name or last_name and any of "
    f"{','.join(CSV_COLUMNS[2:])}, each once)"
)


def read_csv(rows: list[list[str]]) -> list[Record]:
    """The records of a CSV file, one a row after the header."""
    header = [name.strip() for name in rows[0]]
    read_row: Callable[[dict[str, str], Draft], None]
    if any(re.fullmatch(r"(E-mail|Phone) 1 - Value", name) for name in header):
        read_row = _google_row
    elif is_outlook_header(header):
        read_row = _outlook_row
    elif (columns := _first_model_columns(header)) is not None:
        header, read_row = columns, _first_model_row
    else:
        raise NotAContactFile(NOT_READ)
    check_count(len(rows) - 1)
    records = []
    for item, row in enumerate(rows[1:], start=1):
        draft = Draft()
        if len(row) != len(header):
            draft.warnings.append(f"the row has {len(row)} fields, the header {len(header)}")
            for extra in row[len(header) :]:
                if extra.strip():
                    draft.warn("the cell", extra, "it is past the last column")
        cells = dict(zip(header, [*row, *[""] * len(header)], strict=False))
        read_row({name: _unguarded(value) for name, value in cells.items()}, draft)
        if draft.has_name():
            records.append(Record(item, card=draft.card()))
        else:
            records.append(Record(item, problem="no name (first name, last name or company)"))
    return records


def _unguarded(cell: str) -> str:
    # An export puts a ' before a value that a spreadsheet would run as a formula.
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell[1:]) else cell


def _keep_cells(row: dict[str, str], draft: Draft, read: set[str], defaults: set[str]) -> None:
    """The cells of the columns no field holds, kept for the contact's vCards."""
    for column, value in row.items():
        if column in read or not value.strip() or value.strip() in defaults:
            continue
        if column == "Nickname":
            draft.keep("NICKNAME", f"NICKNAME:{backslashEscape(value)}")
        else:
            name = column.replace('"', "'")
            draft.keep(column, f'X-CSV;X-COLUMN="{name}":{backslashEscape(value)}')


def _structured_extras(draft: Draft, middle: str, prefix: str, suffix: str, unit: str) -> None:
    """N with its additional names, prefixes and suffixes, ORG with its unit, when the file
    has them: kept, and written for as long as they still go with the names."""
    fields = draft.fields
    if middle.strip() or prefix.strip() or suffix.strip():
        parts = [
            fields.get("last_name") or "",
            fields.get("first_name") or "",
            middle,
            prefix,
            suffix,
        ]
        draft.keep("N", "N:" + serializeFields([part.strip() for part in parts]))  # type: ignore[no-untyped-call]
    if unit.strip() and fields.get("company"):
        draft.keep("ORG", "ORG:" + serializeFields([fields["company"], unit.strip()]))  # type: ignore[no-untyped-call]


# --- Google Contacts ------------------------------------------------------------------------


def _google_row(row: dict[str, str], draft: Draft) -> None:
    old = "Given Name" in row or "Family Name" in row
    names = {
        "first_name": "Given Name" if old else "First Name",
        "last_name": "Family Name" if old else "Last Name",
        "company": "Organization 1 - Name" if old else "Organization Name",
        "job_title": "Organization 1 - Title" if old else "Organization Title",
        "birthday": "Birthday",
        "notes": "Notes",
    }
    for field, column in names.items():
        draft.text(field, row.get(column), column)
    read = set(names.values())
    full = row.get("Name", "").strip()
    if full and not draft.has_name():
        first, last = split_name(full)
        draft.text("first_name", first, "Name")
        draft.text("last_name", last, "Name")
    if full and full != " ".join(
        str(draft.fields[key]) for key in ("first_name", "last_name") if draft.fields.get(key)
    ):
        draft.keep("FN", f"FN:{backslashEscape(full)}")
    middle = "Additional Name" if old else "Middle Name"
    department = "Organization 1 - Department" if old else "Organization Department"
    extras = (middle, "Name Prefix", "Name Suffix", department)
    _structured_extras(draft, *(row.get(column, "") for column in extras))
    read |= {"Name", *extras}
    labels = "Group Membership" if old else "Labels"
    draft.labels(row.get(labels, "").split(GOOGLE_SEPARATOR))
    read.add(labels)
    for kind, add in (("E-mail", draft.email), ("Phone", draft.phone), ("Website", draft.website)):
        entries: list[tuple[bool, str, str | None, str]] = []
        number = 1
        while f"{kind} {number} - Value" in row:
            label_column = f"{kind} {number} - {'Type' if old else 'Label'}"
            label = row.get(label_column, "").strip()
            for value in row[f"{kind} {number} - Value"].split(GOOGLE_SEPARATOR):
                # Google marks the primary entry with "* ": "* Work".
                entries.append((not label.startswith("*"), value, label.lstrip("* ") or None, kind))
            read |= {label_column, f"{kind} {number} - Value"}
            number += 1
        for _, value, entry_label, what in sorted(entries, key=lambda entry: entry[0]):
            add(value, entry_label, what.lower())
    number = 1
    while f"Address {number} - Street" in row or f"Address {number} - Formatted" in row:
        prefix = f"Address {number} - "
        parts = {part: row.get(prefix + column, "") for column, part in ADDRESS_COLUMNS}
        if not any(value.strip() for value in parts.values()):
            parts["street"] = row.get(prefix + "Formatted", "")
        label = (row.get(prefix + ("Type" if old else "Label")) or "").lstrip("* ")
        draft.address(parts, label or None, "address")
        read |= {prefix + column for column in ("Type", "Label", "Formatted")}
        read |= {prefix + column for column, _ in ADDRESS_COLUMNS}
        number += 1
    _keep_cells(row, draft, read, set())


# --- Outlook --------------------------------------------------------------------------------

# The phone columns, the label of each; the number a person is called on first.
OUTLOOK_PHONES = {
    "Primary Phone": "main",
    "Mobile Phone": "mobile",
    "Home Phone": "home",
    "Business Phone": "work",
    "Home Phone 2": "home",
    "Business Phone 2": "work",
    "Company Main Phone": "company main",
    "Other Phone": "other",
    "Assistant's Phone": "assistant",
    "Car Phone": "car",
    "Callback": "callback",
    "Radio Phone": "radio",
    "Pager": "pager",
    "ISDN": "isdn",
    "TTY/TDD Phone": "textphone",
    "Telex": "telex",
    "Business Fax": "work fax",
    "Home Fax": "home fax",
    "Other Fax": "other fax",
}
OUTLOOK_PLACES = {"Business": "work", "Home": "home", "Other": "other"}
# What Outlook writes in a cell that holds nothing: not kept.
OUTLOOK_DEFAULTS = {"Normal", "Unspecified", "False", "0/0/00", "00/00/00", "0/0/0000"}
OUTLOOK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _outlook_row(row: dict[str, str], draft: Draft) -> None:
    names = {
        "first_name": "First Name",
        "last_name": "Last Name",
        "company": "Company",
        "job_title": "Job Title",
        "notes": "Notes",
    }
    for field, column in names.items():
        draft.text(field, row.get(column), column)
    read = {*names.values(), "Title", "Middle Name", "Suffix", "Department", "Birthday"}
    _structured_extras(
        draft, *(row.get(column, "") for column in ("Middle Name", "Title", "Suffix", "Department"))
    )
    _outlook_birthday(draft, row.get("Birthday", "").strip())
    for number in ("", " 2", " 3"):
        address, kind = row.get(f"E-mail{number} Address", ""), row.get(f"E-mail{number} Type", "")
        read |= {f"E-mail{number} {part}" for part in ("Address", "Type", "Display Name")}
        if kind.strip().upper() == "EX" and address.strip():
            # An address of an Exchange account ("/o=..."): no email address.
            draft.warn("email", address, "an Exchange account's address, not an email address")
        else:
            draft.email(address, None, f"E-mail{number} Address")
    for column in [*OUTLOOK_PHONES, *(name for name in row if name.endswith("Phone"))]:
        if column in row and column not in read:
            draft.phone(row[column], OUTLOOK_PHONES.get(column), column)
            read.add(column)
    for place, label in OUTLOOK_PLACES.items():
        streets = [row.get(f"{place} Street{n}", "").strip() for n in ("", " 2", " 3")]
        parts = {
            "street": "\n".join(street for street in streets if street),
            "city": row.get(f"{place} City", ""),
            "region": row.get(f"{place} State", ""),
            "postal_code": row.get(f"{place} Postal Code", ""),
            "country": row.get(f"{place} Country/Region", row.get(f"{place} Country", "")),
            "po_box": row.get(f"{place} Address PO Box", ""),
        }
        draft.address(parts, label, f"{place} address")
        read |= {f"{place} Street{n}" for n in ("", " 2", " 3")}
        read |= {f"{place} {column}" for column in ("City", "State", "Postal Code")}
        read |= {f"{place} Country/Region", f"{place} Country", f"{place} Address PO Box"}
    draft.website(row.get("Web Page"), None, "Web Page")
    draft.labels(row.get("Categories", "").split(";"), "Categories")
    read |= {"Web Page", "Categories"}
    _keep_cells(row, draft, read, OUTLOOK_DEFAULTS)


def _outlook_birthday(draft: Draft, text: str) -> None:
    if text in OUTLOOK_DEFAULTS:
        return
    month_day_year = OUTLOOK_DATE.fullmatch(text)
    if month_day_year:
        month, day, year = (int(part) for part in month_day_year.groups())
        if month > 12:
            # Outlook writes the dates of the computer's locale: 22/3/1980 in Britain.
            draft.warn("Birthday", text, "not a date written M/D/YYYY")
            return
        text = f"{year:04d}-{month:02d}-{day:02d}"
    draft.text("birthday", text, "Birthday")


# --- The first model's CSV ------------------------------------------------------------------


def _first_model_row(row: dict[str, str], draft: Draft) -> None:
    for field in ("first_name", "last_name", "birthday", "notes"):
        draft.text(field, row.get(field), field)
    draft.email(row.get("email"), None)
    draft.phone(row.get("phone"), None)
    favorite = row.get("favorite", "").strip().lower()
    if favorite in ("true", "1", "yes"):
        draft.fields["favorite"] = True
    elif favorite not in ("", "false", "0", "no"):
        draft.warn("favorite", favorite, "not true or false")
    draft.labels(row.get("labels", "").split(";"))
