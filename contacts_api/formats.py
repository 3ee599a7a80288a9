"""vCard and CSV: contacts written to a file, and the records read back from one.

Pure functions, no FastAPI and no database. Reading gives raw field values per record;
the import route validates them like any `ContactCreate`. vobject does the vCard syntax
(unfolding, parameters, escapes); `csv` does the CSV.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import vobject
from vobject.base import backslashEscape, foldOneLine
from vobject.vcard import serializeFields

CSV_COLUMNS = ("first_name", "last_name", "email", "phone", "birthday", "notes")
REQUIRED_CSV_COLUMNS = CSV_COLUMNS[:-1]

# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection"). An
# export puts a ' before such a value, and before a value already made of 's and such a
# character, so that an import can take exactly one ' off again.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


class NotAContactFile(ValueError):
    """The upload is neither a vCard nor a CSV file with the expected header."""


class UnreadableRecord(ValueError):
    """One record of the file cannot be read; the others still can."""


@dataclass
class Record:
    """One record of an uploaded file: its fields, or why they could not be read."""

    item: int  # counted from 1 in file order
    fields: dict[str, Any] | None = None  # None when the record cannot be read
    problem: str = ""


# --- Export -----------------------------------------------------------------------------------


def _content_line(name: str, value: str) -> str:
    """`NAME:value` and its CRLF, folded at 75 octets but never inside a UTF-8 sequence."""
    buffer = io.StringIO()
    foldOneLine(buffer, f"{name}:{value}")
    return buffer.getvalue()


def _compound(fields: list[str]) -> str:
    # N's parts, each escaped, joined by ";".
    return serializeFields(fields)  # type: ignore[no-untyped-call,no-any-return]


def to_vcard(contacts: Iterable[Any]) -> str:
    """vCard 4.0 (RFC 6350) with N, FN, EMAIL, TEL, BDAY and NOTE for each contact."""
    lines = []
    for contact in contacts:
        lines += [
            "BEGIN:VCARD\r\n",
            "VERSION:4.0\r\n",
            # Family; given; additional; prefixes; suffixes.
            _content_line("N", _compound([contact.last_name, contact.first_name, "", "", ""])),
            _content_line("FN", backslashEscape(f"{contact.first_name} {contact.last_name}")),
            _content_line("EMAIL", backslashEscape(contact.email)),
            _content_line("TEL", backslashEscape(contact.phone)),
            _content_line("BDAY", contact.birthday.isoformat().replace("-", "")),
        ]
        if contact.notes is not None:
            lines.append(_content_line("NOTE", backslashEscape(contact.notes)))
        lines.append("END:VCARD\r\n")
    return "".join(lines)


def _csv_cell(value: str) -> str:
    return f"'{value}" if FORMULA_START.match(value) else value


def to_csv(contacts: Iterable[Any]) -> str:
    """CSV with the header `first_name,last_name,email,phone,birthday,notes`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for contact in contacts:
        writer.writerow(
            [
                _csv_cell(contact.first_name),
                _csv_cell(contact.last_name),
                _csv_cell(contact.email),
                _csv_cell(contact.phone),
                contact.birthday.isoformat(),
                "" if contact.notes is None else _csv_cell(contact.notes),
            ]
        )
    return buffer.getvalue()


# --- Import -----------------------------------------------------------------------------------


def read_records(data: bytes) -> list[Record]:
    """The records of an uploaded vCard (3.0 or 4.0) or CSV file, in file order."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotAContactFile("The file is not UTF-8 text") from None
    if "\x00" in text:
        raise NotAContactFile("The file is not text: it holds NUL characters")
    if not text.strip():
        raise NotAContactFile("The file is empty")
    if text.lstrip()[:11].upper() == "BEGIN:VCARD":
        return list(_read_vcards(text))
    return list(_read_csv(text))


# BEGIN and END lines of a card; a folded line starts with white space, so never matches.
CARD_BOUNDARY = re.compile(r"^(BEGIN|END):VCARD[ \t]*$", re.IGNORECASE)


def _card_texts(text: str) -> Iterator[str | None]:
    """Each card's text, BEGIN to END; None for text outside a card or a card left open."""
    card: list[str] = []
    stray = False
    for line in text.splitlines():
        boundary = CARD_BOUNDARY.match(line)
        kind = boundary.group(1).upper() if boundary else None
        if card:
            card.append(line)
            if kind == "BEGIN":  # the previous card never ended
                yield None
                card = [line]
            elif kind == "END":
                yield "\r\n".join(card) + "\r\n"
                card = []
        elif kind == "BEGIN":
            if stray:
                yield None
                stray = False
            card = [line]
        elif line.strip():
            stray = True
    if card or stray:
        yield None


def _read_vcards(text: str) -> Iterator[Record]:
    for item, card_text in enumerate(_card_texts(text), start=1):
        if card_text is None:
            yield Record(item, problem="Not a complete vCard: text outside BEGIN:VCARD … END:VCARD")
            continue
        try:
            card = vobject.readOne(card_text, ignoreUnreadable=False)
            yield Record(item, fields=_card_fields(card))
        except UnreadableRecord as exc:
            yield Record(item, problem=str(exc))
        except Exception as exc:
            # vobject raises many kinds of errors on malformed input (ParseError, binascii,
            # AttributeError...): each is about this card alone, so it goes in the report.
            yield Record(item, problem=f"Not a readable vCard: {str(exc)[:200]}")


def _text(value: Any) -> str:
    # vobject gives a list where a field holds several comma-separated values.
    return " ".join(value) if isinstance(value, list) else str(value)


def _preferred(card: Any, name: str) -> Any:
    """The one value kept of a property that may repeat: PREF=1 (4.0), TYPE=pref (3.0), or
    else the first."""
    lines = card.contents.get(name, [])
    if not lines:
        return None

    def rank(line: Any) -> int:
        if any(kind.lower() == "pref" for kind in line.params.get("TYPE", [])):
            return 0
        pref = line.params.get("PREF", ["100"])[0]
        return int(pref) if pref.isdigit() else 100

    return min(lines, key=rank).value


def _birthday(value: Any) -> Any:
    """BDAY as YYYY-MM-DD: vCard writes 19850315, 1985-03-15, or a date-time."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})(?:T.*)?", str(value).strip())
    if not match:
        raise UnreadableRecord(
            f"BDAY {str(value)[:20]!r} is not a full date (a contact needs the year too)"
        )
    return "-".join(match.groups())


def _phone(value: Any) -> Any:
    # vCard 4.0 may write a number as a URI: TEL;VALUE=uri:tel:+1-555-555-0100.
    if isinstance(value, str) and value[:4].lower() == "tel:":
        return value[4:]
    return value


def _card_fields(card: Any) -> dict[str, Any]:
    version = card.contents.get("version", [None])[0]
    if version is None or version.value.strip() not in ("3.0", "4.0"):
        found = "none" if version is None else repr(version.value.strip()[:10])
        raise UnreadableRecord(f"VERSION must be 3.0 or 4.0, found {found}")
    if "n" in card.contents:
        first_name, last_name = _text(card.n.value.given), _text(card.n.value.family)
    elif "fn" in card.contents:
        # vCard 4.0 may leave N out: take the last word of FN as the family name.
        *given, family = card.fn.value.split() or [""]
        first_name, last_name = " ".join(given), family
    else:
        first_name = last_name = ""
    notes = [line.value for line in card.contents.get("note", [])]
    return {
        "first_name": first_name,
        "last_name": last_name,
        "email": _preferred(card, "email"),
        "phone": _phone(_preferred(card, "tel")),
        "birthday": _birthday(_preferred(card, "bday")),
        "notes": "\n".join(notes) if notes else None,
    }


def _read_csv(text: str) -> Iterator[Record]:
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(row for row in rows if row)
        columns = [name.strip().lower() for name in header]
        _check_header(columns)
        item = 0
        for row in rows:
            if not row:
                continue  # a blank line is no record
            item += 1
            if len(row) != len(columns):
                problem = f"Expected {len(columns)} fields, found {len(row)}"
                yield Record(item, problem=problem)
                continue
            fields: dict[str, Any] = dict(zip(columns, map(_csv_value, row), strict=True))
            if not fields.get("notes"):
                fields["notes"] = None  # CSV cannot tell an empty note from none
            yield Record(item, fields=fields)
    except csv.Error as exc:
        raise NotAContactFile(f"Not a readable CSV file: {exc}") from None


def _check_header(columns: list[str]) -> None:
    if len(set(columns)) != len(columns) or not set(columns) <= set(CSV_COLUMNS):
        raise NotAContactFile(
            "Not a vCard file, nor a CSV file whose header names the columns "
            f"{','.join(CSV_COLUMNS)} (notes may be left out), each once"
        )
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in columns]
    if missing:
        raise NotAContactFile(f"The CSV header lacks the columns {', '.join(missing)}")


def _csv_value(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell[1:]) else cell
