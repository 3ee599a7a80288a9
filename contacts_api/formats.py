"""vCard and CSV: contacts written to a file, and the records read back from one.

Pure functions, no FastAPI and no database. Reading gives raw field values per record;
the import route validates them like any `ContactCreate`. vobject reads each vCard content
line (name, parameters, value) and does the escapes of values and of N's parts; `csv` does
the CSV.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vobject.base import ParseError, backslashEscape, parseLine
from vobject.icalendar import stringToTextValues
from vobject.vcard import serializeFields, splitFields

# The fields a file holds of each contact, in the order of the CSV header.
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
    """`NAME:value` and its CRLF, folded so that no line passes 75 octets (RFC 6350 §3.2),
    never inside a character. (vobject's folding counts characters on shorter lines.)"""
    line = f"{name}:{value}"
    if len(line.encode()) <= 75:
        return f"{line}\r\n"
    parts, start, width = [], 0, 0
    for index, char in enumerate(line):
        size = len(char.encode())
        if width + size > 75:
            parts.append(line[start:index])
            start, width = index, 1  # the continuation line's leading space
        width += size
    parts.append(line[start:])
    return "\r\n ".join(parts) + "\r\n"


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

# A bound on the work of one import: about twice the records of a realistic file at the
# default body limit.
MAX_RECORDS = 20_000


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
    read = _read_vcards if text.lstrip()[:11].upper() == "BEGIN:VCARD" else _read_csv
    return read(text)


def _too_many(count: int) -> None:
    if count > MAX_RECORDS:
        raise NotAContactFile(f"The file holds {count} records, more than {MAX_RECORDS}: split it")


# BEGIN and END lines of a card; a folded line starts with white space, so never matches.
CARD_BOUNDARY = re.compile(r"(BEGIN|END):VCARD[ \t]*", re.IGNORECASE)
# Line breaks as vCard has them; str.splitlines() would also break at U+2028 and others,
# which a note may hold.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _cards(text: str) -> list[list[str] | None]:
    """Each card's lines, BEGIN to END; None for text outside a card or a card left open."""
    cards: list[list[str] | None] = []
    card: list[str] = []
    stray = False
    for line in LINE_BREAK.split(text):
        boundary = CARD_BOUNDARY.fullmatch(line)
        kind = boundary.group(1).upper() if boundary else None
        if card:
            card.append(line)
            if kind == "BEGIN":  # the previous card never ended
                cards.append(None)
                card = [line]
            elif kind == "END":
                cards.append(card)
                card = []
        elif kind == "BEGIN":
            if stray:
                cards.append(None)
                stray = False
            card = [line]
        elif line.strip():
            stray = True
    if card or stray:
        cards.append(None)
    return cards


def _read_vcards(text: str) -> list[Record]:
    cards = _cards(text)
    _too_many(len(cards))
    records = []
    for item, lines in enumerate(cards, start=1):
        if lines is None:
            problem = "Not a complete vCard: text outside BEGIN:VCARD … END:VCARD"
            records.append(Record(item, problem=problem))
            continue
        try:
            records.append(Record(item, fields=_card_fields(lines)))
        except (UnreadableRecord, ParseError) as exc:
            records.append(Record(item, problem=str(exc)))
    return records


# A property's name and parameters, up to the colon before its value. vobject's own pattern
# for this backtracks exponentially on a line such as "EMAIL;a=b,c;a=b,c;..." without a
# colon (minutes for 100 bytes); this one accepts a subset of its lines in linear time, so
# parseLine only ever sees lines it reads at once.
PARAMETER_VALUE = r'(?:"[^"]*"|[^";:,]*)'
PROPERTY_START = re.compile(
    rf"(?:[A-Za-z0-9_-]+\.)?[A-Za-z0-9_-]+"
    rf"(?:;[A-Za-z0-9_-]+(?:={PARAMETER_VALUE}(?:,{PARAMETER_VALUE})*)?)*:"
)


def _unfolded(lines: list[str]) -> list[str]:
    """Content lines, each folded line joined to the one before (RFC 6350 §3.2)."""
    logical: list[list[str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and logical:
            logical[-1].append(line[1:])
        else:
            logical.append([line])
    return ["".join(parts) for parts in logical]


# A property as vobject's parseLine gives it: [[parameter, value, ...], ...] and the value
# as written (escaped).
Property = tuple[list[list[str]], str]


def _card_fields(lines: list[str]) -> dict[str, Any]:
    properties: dict[str, list[Property]] = {}
    for line in _unfolded(lines)[1:-1]:  # between BEGIN and END
        if not PROPERTY_START.match(line):
            raise UnreadableRecord(f"Not a vCard property: {line[:40]!r}")
        name, parameters, value, _group = parseLine(line)
        properties.setdefault(name.upper(), []).append((parameters, value))
    versions = [value.strip() for _, value in properties.get("VERSION", [])]
    if versions not in (["3.0"], ["4.0"]):
        found = ", ".join(repr(version[:10]) for version in versions) or "none"
        raise UnreadableRecord(f"VERSION must be 3.0 or 4.0, found {found}")
    if "N" in properties:
        # Family; given; additional; prefixes; suffixes.
        family, given, *_ = [*_structured(properties["N"][0][1]), "", ""]
        first_name, last_name = given, family
    elif "FN" in properties:
        # vCard 4.0 may leave N out: take the last word of FN as the family name.
        *given_names, family = _text(properties["FN"][0][1]).split() or [""]
        first_name, last_name = " ".join(given_names), family
    else:
        first_name = last_name = ""
    notes = [_text(value) for _, value in properties.get("NOTE", [])]
    return {
        "first_name": first_name,
        "last_name": last_name,
        "email": _text_or_none(_preferred(properties, "EMAIL")),
        "phone": _phone(_text_or_none(_preferred(properties, "TEL"))),
        "birthday": _birthday(_preferred(properties, "BDAY")),
        "notes": "\n".join(notes) if notes else None,
    }


def _text(value: str) -> str:
    """A text value with its escapes (\\n, \\, \\; \\\\) undone, commas kept."""
    return stringToTextValues(value, listSeparator=None)[0]  # type: ignore[arg-type]


def _text_or_none(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _structured(value: str) -> list[str]:
    """The parts of N, each unescaped; a part with several values has them joined by spaces."""
    parts = splitFields(value)
    return [" ".join(part) if isinstance(part, list) else part for part in parts]


def _preferred(properties: dict[str, list[Property]], name: str) -> str | None:
    """The one value kept of a property that may repeat: PREF=1 (4.0), TYPE=pref (3.0), or
    else the first."""
    if name not in properties:
        return None

    def rank(found: Property) -> int:
        parameters = {parameter[0].upper(): parameter[1:] for parameter in found[0]}
        if any(kind.lower() == "pref" for kind in parameters.get("TYPE", [])):
            return 0
        pref = (parameters.get("PREF") or ["100"])[0]
        return int(pref) if re.fullmatch(r"[0-9]{1,3}", pref) else 100

    return min(properties[name], key=rank)[1]


def _birthday(value: str | None) -> str | None:
    """BDAY as YYYY-MM-DD: vCard writes 19850315, 1985-03-15, or a date-time."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})(?:T.*)?", value.strip())
    if not match:
        raise UnreadableRecord(
            f"BDAY {value[:20]!r} is not a full date (a contact needs the year too)"
        )
    return "-".join(match.groups())


def _phone(value: str | None) -> str | None:
    # vCard 4.0 may write a number as a URI: TEL;VALUE=uri:tel:+1-555-555-0100.
    if value is not None and value[:4].lower() == "tel:":
        return value[4:]
    return value


def _read_csv(text: str) -> list[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = [row for row in reader if row]  # a blank line is no record
    except csv.Error as exc:
        raise NotAContactFile(f"Not a readable CSV file (line {reader.line_num}): {exc}") from None
    columns = [name.strip().lower() for name in rows[0]]
    _check_header(columns)
    _too_many(len(rows) - 1)
    records = []
    for item, row in enumerate(rows[1:], start=1):
        if len(row) != len(columns):
            problem = f"Expected {len(columns)} fields, found {len(row)}"
            records.append(Record(item, problem=problem))
            continue
        fields: dict[str, Any] = dict(zip(columns, map(_csv_value, row), strict=True))
        fields.setdefault("notes", None)
        records.append(Record(item, fields=fields))
    return records


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
