"""vCard: 4.0 out (RFC 6350), 2.1, 3.0 and 4.0 in, as address books write them.

vobject reads each content line (name, parameters, value) and does the escapes of values
and of N's parts. Around it, this module does what vobject cannot: it finds the lines in
linear time, joins vCard 2.1's quoted-printable soft line breaks, and decodes `ENCODING=`
and `CHARSET=` values. Only the properties a contact keeps are read; all others (ADR, ORG,
PHOTO, URL, X-...) are passed over, however they are written.
"""

import base64
import binascii
import quopri
import re
from collections.abc import Iterable
from typing import Any

from vobject.base import ParseError, backslashEscape, parseLine
from vobject.icalendar import stringToTextValues
from vobject.vcard import serializeFields, splitFields

from contacts_api.formats.records import (
    FULL_DATE,
    NO_YEAR,
    Draft,
    Record,
    Sources,
    WrongValue,
    check_count,
    iso_date,
    to_record,
)

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


def full_name(contact: Any) -> str:
    """FN: the names as people read them, else the company."""
    names = " ".join(name for name in (contact.first_name, contact.last_name) if name)
    return names or contact.company or ""


def _compound(fields: list[str]) -> str:
    # N's parts, each escaped, joined by ";".
    return serializeFields(fields)  # type: ignore[no-untyped-call,no-any-return]


def to_vcard(contacts: Iterable[Any]) -> str:
    """vCard 4.0 (RFC 6350) with N, FN, EMAIL, TEL, BDAY, NOTE, CATEGORIES (the labels) and
    X-FAVORITE for each contact."""
    lines = []
    for contact in contacts:
        lines += [
            "BEGIN:VCARD\r\n",
            "VERSION:4.0\r\n",
            # Family; given; additional; prefixes; suffixes.
            _content_line(
                "N", _compound([contact.last_name or "", contact.first_name or "", "", "", ""])
            ),
            _content_line("FN", backslashEscape(full_name(contact))),
        ]
        if contact.company is not None:
            lines.append(_content_line("ORG", backslashEscape(contact.company)))
        if contact.email is not None:
            lines.append(_content_line("EMAIL", backslashEscape(contact.email)))
        if contact.phone is not None:
            lines.append(_content_line("TEL", backslashEscape(contact.phone)))
        if contact.birthday is not None:
            # 19900415, or --0415 for a birthday without a year (RFC 6350 §4.3.1).
            year, month_day = contact.birthday[:-6], contact.birthday[-5:].replace("-", "")
            lines.append(_content_line("BDAY", (year or "--") + month_day))
        if contact.notes is not None:
            lines.append(_content_line("NOTE", backslashEscape(contact.notes)))
        if contact.labels:
            # A list value: the names, each escaped, joined by "," (RFC 6350 §6.7.1).
            categories = ",".join(backslashEscape(name) for name in contact.labels)
            lines.append(_content_line("CATEGORIES", categories))
        if contact.favorite:
            lines.append("X-FAVORITE:TRUE\r\n")
        lines.append("END:VCARD\r\n")
    return "".join(lines)


# --- Import: cards and their lines ------------------------------------------------------------

# BEGIN and END lines of a card, in any case (BEGIN:vCard); a folded line starts with white
# space, so never matches.
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


# A property's group, name and parameters, up to the colon before its value. vobject's own
# pattern for this backtracks exponentially on a line such as "EMAIL;a=b,c;a=b,c;..." without
# a colon (minutes for 100 bytes); this one accepts a subset of its lines in linear time, so
# parseLine only ever sees lines it reads at once.
PARAMETER_VALUE = r'(?:"[^"]*"|[^";:,]*)'
PROPERTY_START = re.compile(
    rf"(?:[A-Za-z0-9_-]+\.)?(?P<name>[A-Za-z0-9_-]+)"
    rf"(?P<parameters>(?:;[A-Za-z0-9_-]+(?:={PARAMETER_VALUE}(?:,{PARAMETER_VALUE})*)?)*):"
)
QUOTED_PRINTABLE = re.compile(r";(?:ENCODING=)?QUOTED-PRINTABLE(?=[;:]|$)", re.IGNORECASE)

# The properties a contact is made of, and the word for each in a report.
KEPT = {
    "VERSION": ("version", "version"),
    "N": ("name", "name"),
    "FN": ("name", "name"),
    "EMAIL": ("email", "email"),
    "TEL": ("phone", "phone"),
    "BDAY": ("birthday", "birthday"),
    "NOTE": ("notes", "note"),
    "CATEGORIES": ("labels", "categories"),
    # No property of RFC 6350 says "favourite": this service writes X-FAVORITE:TRUE.
    "X-FAVORITE": ("favorite", "favorite (X-FAVORITE)"),
}
# A line that starts like one of them but is no property: the card says that field is broken
# instead of leaving it out without a word.
KEPT_START = re.compile(rf"(?:[A-Za-z0-9_-]+\.)?({'|'.join(KEPT)})[;:]", re.IGNORECASE)


def _content_lines(lines: list[str]) -> list[str]:
    """A card's content lines: folded lines joined (RFC 6350 §3.2), quoted-printable soft
    line breaks joined (vCard 2.1), blank lines left out."""
    logical: list[list[str]] = []
    soft_break = False  # the line before ended a quoted-printable value with "="
    quoted_printable = False  # the current content line's value is quoted-printable
    for line in lines:
        if soft_break:
            # The "=" goes, and the next line is value as it stands: quoted-printable keeps
            # its spaces, and vobject would take this line for a property of its own.
            logical[-1][-1] = logical[-1][-1][:-1]
            logical[-1].append(line)
        elif line[:1] in (" ", "\t"):
            if logical:
                logical[-1].append(line[1:])
        elif not line:
            # Between properties, or where vCard 2.1 ends base64 data: nothing to read.
            continue
        else:
            logical.append([line])
            # A 2.1 writer does not fold the parameters of a quoted-printable value.
            start = PROPERTY_START.match(line)
            quoted_printable = bool(start and QUOTED_PRINTABLE.search(start["parameters"]))
        soft_break = quoted_printable and line.endswith("=")
    return ["".join(parts) for parts in logical]


# A property as the card gives it: its parameters, upper-case names with their values, and
# its value decoded but still escaped.
Property = tuple[dict[str, list[str]], str]
# Parameters that vCard 2.1 writes bare, without "ENCODING=" (others are types: TEL;CELL).
ENCODINGS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}


def _parameters(found: list[list[str]]) -> dict[str, list[str]]:
    parameters: dict[str, list[str]] = {}
    for name, *values in found:
        key = name.upper()
        if not values:  # vCard 2.1: TEL;CELL;PREF, NOTE;QUOTED-PRINTABLE
            key, values = ("ENCODING" if key in ENCODINGS else "TYPE"), [name]
        for value in values:
            # TYPE=INTERNET,pref and TYPE="home,voice" are lists too.
            parameters.setdefault(key, []).extend(part.strip() for part in value.split(","))
    return parameters


def _decoded(parameters: dict[str, list[str]], value: str, raw_bytes: bool, where: str) -> str:
    """The value as text: quoted-printable or base64 undone, bytes read in their CHARSET.

    `raw_bytes`: the file is not UTF-8, and its text holds each byte as one character.
    """
    encoding = (parameters.get("ENCODING") or [""])[0].upper()
    if encoding == "QUOTED-PRINTABLE":
        data = quopri.decodestring(value.encode("latin-1" if raw_bytes else "utf-8"))
    elif encoding in ("B", "BASE64"):
        try:
            data = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise WrongValue(f"{where} is not base64 data") from None
    elif raw_bytes:
        data = value.encode("latin-1")
    else:
        return value  # already text: a UTF-8 file's CHARSET says nothing more
    charset = (parameters.get("CHARSET") or [""])[0]
    try:
        return data.decode(charset or "utf-8")
    except LookupError:
        raise WrongValue(f"{where} is in an unknown character set {charset[:30]!r}") from None
    except ValueError:  # UnicodeDecodeError, or the UnicodeError of codecs such as idna
        if not charset:
            # No CHARSET and not UTF-8: what Outlook and other Windows programs write.
            try:
                return data.decode("windows-1252")
            except UnicodeDecodeError:
                pass
        raise WrongValue(f"{where} is not {charset or 'UTF-8'} text") from None


def _card_properties(
    lines: list[str], raw_bytes: bool
) -> tuple[dict[str, list[Property]], dict[str, str]]:
    """The kept properties of a card, by name, and the fields whose lines cannot be read."""
    properties: dict[str, list[Property]] = {}
    wrong: dict[str, str] = {}
    for line in _content_lines(lines):
        start = PROPERTY_START.match(line)
        name = start["name"].upper() if start else None
        if name not in KEPT:
            broken = None if start else KEPT_START.match(line)
            if broken:
                field, word = KEPT[broken.group(1).upper()]
                wrong.setdefault(field, f"{word} ({broken.group(1).upper()}) cannot be read")
            continue
        field, word = KEPT[name]
        where = f"{word} ({name})"
        try:
            _name, found, value, _group = parseLine(line)
            parameters = _parameters(found)
            properties.setdefault(name, []).append(
                (parameters, _decoded(parameters, value, raw_bytes, where))
            )
        except ParseError:
            wrong.setdefault(field, f"{where} cannot be read")
        except WrongValue as exc:
            wrong.setdefault(field, str(exc))
    return properties, wrong


# --- Import: a card's fields ------------------------------------------------------------------

VERSIONS = ("2.1", "3.0", "4.0")
SOURCES = Sources(
    first_name="N or FN",
    last_name="N or FN",
    name="N or FN",
    email="EMAIL",
    phone="TEL",
    birthday="BDAY",
)


def read_vcards(text: str, raw_bytes: bool = False) -> list[Record]:
    """The records of a vCard file, one a card, in file order."""
    cards = _cards(text)
    check_count(len(cards))
    records = []
    for item, lines in enumerate(cards, start=1):
        if lines is None:
            problem = "Not a complete vCard: text outside BEGIN:VCARD … END:VCARD"
            records.append(Record(item, problem=problem))
            continue
        properties, wrong = _card_properties(lines[1:-1], raw_bytes)  # between BEGIN and END
        records.append(to_record(item, _draft(properties, wrong), SOURCES))
    return records


def _draft(properties: dict[str, list[Property]], wrong: dict[str, str]) -> Draft:
    draft = Draft(wrong=wrong)
    versions = [value.strip() for _, value in properties.get("VERSION", [])]
    if not versions:
        wrong.setdefault("version", "no version (VERSION)")
    elif len(versions) > 1 or versions[0] not in VERSIONS:
        found = ", ".join(repr(version[:10]) for version in versions)
        wrong.setdefault("version", f"version {found} is not 2.1, 3.0 or 4.0 (VERSION)")
    draft.first_name, draft.last_name = _names(properties)
    draft.email = _text_or_none(_preferred(properties.get("EMAIL", [])))
    # A number without digits ("TEL;WORK:n/a") is only taken when there is no other.
    phones = properties.get("TEL", [])
    dialable = [phone for phone in phones if any(char.isdigit() for char in phone[1])]
    draft.phone = _phone(_text_or_none(_preferred(dialable or phones)))
    if "birthday" not in wrong:
        try:
            draft.birthday = _birthday(properties.get("BDAY", []))
        except WrongValue as exc:
            wrong["birthday"] = str(exc)
    notes = [_text(value) for _, value in properties.get("NOTE", [])]
    draft.notes = "\n".join(notes) if notes else None
    # A line of a required field that cannot be read only matters when the card has no other
    # (an EMAIL in a character set Python lacks, beside one in UTF-8). A note or a category
    # that cannot be read stays an error: importing without it would lose it without a word.
    usable = {
        "name": draft.first_name.strip() and draft.last_name.strip(),
        "email": draft.email,
        "phone": draft.phone,
        "birthday": draft.birthday,
    }
    for field, value in usable.items():
        if value:
            wrong.pop(field, None)
    for _, value in properties.get("CATEGORIES", []):
        # vCard 2.1 has no escapes, and some of its writers separate categories with ";".
        draft.labels += re.split("[,;]", value) if versions == ["2.1"] else _list(value)
    draft.favorite = any(
        _text(value).strip().upper() == "TRUE" for _, value in properties.get("X-FAVORITE", [])
    )
    return draft


def _names(properties: dict[str, list[Property]]) -> tuple[str, str]:
    """First and last name: N's given and family names, else FN's words."""
    given = family = ""
    if "N" in properties:
        # Family; given; additional; prefixes; suffixes.
        family, given, *_ = [*_structured(properties["N"][0][1]), "", ""]
    if not (given.strip() and family.strip()) and "FN" in properties:
        # vCard 4.0 may leave N out, and some phones put the whole name in one part of N:
        # the last word of FN is then the family name.
        words = _text(properties["FN"][0][1]).split()
        if len(words) > 1 or not (given.strip() or family.strip()):
            *given_names, family = words or [""]
            given = " ".join(given_names)
    return given, family


def _text(value: str) -> str:
    """A text value with its escapes (\\n, \\, \\; \\\\) undone, commas kept."""
    return stringToTextValues(value, listSeparator=None)[0]  # type: ignore[arg-type]


def _list(value: str) -> list[str]:
    """A list value (CATEGORIES) split at its unescaped commas, each part unescaped."""
    return stringToTextValues(value)


def _text_or_none(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _structured(value: str) -> list[str]:
    """The parts of N, each unescaped; a part with several values has them joined by spaces."""
    parts = splitFields(value)
    return [" ".join(part) if isinstance(part, list) else part for part in parts]


def _preferred(found: list[Property]) -> str | None:
    """The one value kept of a property that may repeat: PREF=1 (4.0), TYPE=pref (3.0), a
    bare PREF (2.1), or else the first."""
    if not found:
        return None

    def rank(candidate: Property) -> int:
        parameters = candidate[0]
        if any(kind.lower() == "pref" for kind in parameters.get("TYPE", [])):
            return 0
        pref = (parameters.get("PREF") or ["100"])[0]
        return int(pref) if re.fullmatch(r"[0-9]{1,3}", pref) else 100

    return min(found, key=rank)[1]


def _birthday(found: list[Property]) -> str | None:
    """BDAY as YYYY-MM-DD: vCard writes 19850315, 1985-03-15, or a date-time."""
    if not found:
        return None
    parameters, value = found[0]
    text = value.strip()
    match = FULL_DATE.match(text)
    if match and text[match.end() :][:1] in ("", "T"):
        year = match.group(1)
        # Apple Contacts writes a birthday without a year as the year 1604, and says so.
        if year in parameters.get("X-APPLE-OMIT-YEAR", []):
            raise WrongValue(f"birthday {text[:30]!r} has no year")
        return iso_date(text, *match.groups())
    if NO_YEAR.match(text):
        raise WrongValue(f"birthday {text[:30]!r} has no year")
    raise WrongValue(f"birthday {text[:30]!r} is not a date")


def _phone(value: str | None) -> str | None:
    # vCard 4.0 may write a number as a URI: TEL;VALUE=uri:tel:+1-555-555-0100;ext=12.
    if value is not None and value[:4].lower() == "tel:":
        return value[4:].split(";")[0]
    return value
