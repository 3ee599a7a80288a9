"""vCard lines as address books write them: the cards of a file, each card's content lines,
and each property's parameters and value decoded.

vobject reads each content line (group, name, parameters, value) and does the escapes of
values. Around it, this module does what vobject cannot on real files: it finds the lines in
linear time, joins vCard 2.1's quoted-printable soft line breaks, and decodes `ENCODING=` and
`CHARSET=` values (Outlook writes Windows-1252).
"""

import base64
import binascii
import quopri
import re
from dataclasses import dataclass

from vobject.base import ParseError, parseLine


class WrongValue(ValueError):
    """One property cannot be decoded; the message says which and why, in words."""


# --- Import: cards and their lines ------------------------------------------------------------

# BEGIN and END lines of a card, in any case (BEGIN:vCard); a folded line starts with white
# space, so never matches.
CARD_BOUNDARY = re.compile(r"(BEGIN|END):VCARD[ \t]*", re.IGNORECASE)
# Line breaks as vCard has them; str.splitlines() would also break at U+2028 and others,
# which a note may hold.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def find_cards(text: str) -> list[list[str] | None]:
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


@dataclass
class Property:
    """One content line of a card: the line as it came (as text), and what it says."""

    line: str
    group: str | None = None
    name: str = ""  # upper-case; "" for a line that is no property
    parameters: dict[str, list[str]] | None = None
    value: str = ""  # decoded, still escaped
    problem: str = ""  # why the value cannot be decoded

    def types(self) -> list[str]:
        """TYPE's values, lower-case: TYPE=HOME,pref;TYPE=VOICE and 2.1's bare HOME alike."""
        return [kind.lower() for kind in (self.parameters or {}).get("TYPE", []) if kind]


def card_properties(lines: list[str], raw_bytes: bool, read: set[str]) -> list[Property]:
    """The properties of a card's lines (between BEGIN and END), in card order; the values
    of those named in `read` decoded (a PHOTO stays as it came).

    `raw_bytes`: the file is not UTF-8, and its text holds each byte as one character; a line
    is then kept as text decoded in its CHARSET (or Windows-1252).
    """
    found = []
    for line in _content_lines(lines):
        start = PROPERTY_START.match(line)
        text = _line_text(line) if raw_bytes else line
        if start is None:
            found.append(Property(text, problem="cannot be read"))
            continue
        name = start["name"].upper()
        try:
            _name, parsed, value, group = parseLine(line)
        except ParseError:
            found.append(Property(text, name=name, problem="cannot be read"))
            continue
        parameters = _parameters(parsed)
        if name not in read:
            found.append(Property(text, group, name, parameters, value))
            continue
        try:
            decoded = _decoded(parameters, value, raw_bytes, "its value")
        except WrongValue as exc:
            found.append(Property(text, group, name, parameters, value, problem=str(exc)))
            continue
        found.append(Property(text, group, name, parameters, decoded))
    return found


def _line_text(line: str) -> str:
    data = line.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("windows-1252", errors="replace")
