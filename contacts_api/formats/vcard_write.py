"""vCard out: a contact as a vCard 4.0 (RFC 6350) or 3.0 (RFC 2426) card.

Every field is written (each email, phone, address and website with its label as TYPE, the
primary one preferred), then the UID and the properties kept from the card it came from.
A label that no TYPE says is written the way Apple and Google write one: the property in a
group, with `X-ABLabel` in the same group.
"""

from collections.abc import Iterable
from typing import Any, Literal

from vobject.base import backslashEscape
from vobject.vcard import serializeFields

from contacts_api.formats.vcard_lines import PROPERTY_START
from contacts_api.formats.vcard_read import (
    KINDS,
    PLACES,
    label_of,
    structured,
    text,
    written_full_name,
)
from contacts_api.models.contacts import ADDRESS_PARTS

Version = Literal["3.0", "4.0"]
# The TYPE of each word of a label: "work fax" is TYPE=work,fax.
TYPES = {word: kind for kind, word in KINDS.items() if kind != "mobile"} | PLACES
# ADR's parts are in the order of the property (RFC 6350 §6.3.1).
ADR_ORDER = ADDRESS_PARTS


def content_line(line: str) -> str:
    """A content line and its CRLF, folded so that no line passes 75 octets (RFC 6350 §3.2),
    never inside a character. (vobject's folding counts characters.)"""
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


def _types(label: str | None) -> list[str] | None:
    """The TYPE values that say `label`, or None when none do (a label of one's own)."""
    if label is None:
        return []
    words = label.split(" ")
    if all(word in TYPES for word in words):
        types = [TYPES[word] for word in words]
        if label_of(types) == label:
            return types
    return None


def _kept_lines(kept: str | None) -> list[tuple[str, str]]:
    """The kept content lines with their property names (upper-case)."""
    lines = []
    for line in (kept or "").split("\r\n"):
        if line:
            start = PROPERTY_START.match(line)
            lines.append((start["name"].upper() if start else "", line))
    return lines


def write_card(contact: Any, version: Version) -> str:
    """One vCard of `contact` (a Contact, or any object with its fields and `labels`): CRLF
    line ends, folded lines, with its UID and the properties kept from its import."""
    kept = _kept_lines(getattr(contact, "kept_properties", None))
    lines = ["BEGIN:VCARD", f"VERSION:{version}"]
    lines += _names(contact, kept)
    if contact.job_title is not None:
        lines.append(f"TITLE:{backslashEscape(contact.job_title)}")
    groups = _Groups(kept)
    for name, entries in (
        ("EMAIL", contact.emails),
        ("TEL", contact.phones),
        ("ADR", contact.addresses),
        ("URL", contact.websites),
    ):
        for index, entry in enumerate(entries):
            lines += _entry(name, entry, index == 0, version, groups)
    if contact.birthday is not None:
        lines.append(_birthday(contact.birthday, version))
    if contact.notes is not None:
        lines.append(f"NOTE:{backslashEscape(contact.notes)}")
    if contact.labels:
        # A list value: the names, each escaped, joined by "," (RFC 6350 §6.7.1).
        lines.append("CATEGORIES:" + ",".join(backslashEscape(name) for name in contact.labels))
    if contact.favorite:
        # No property of RFC 6350 says "favourite": this service writes X-FAVORITE:TRUE.
        lines.append("X-FAVORITE:TRUE")
    uid = getattr(contact, "uid", None)
    if uid:
        lines.append(f"UID:{uid}")
    lines += [line for name, line in kept if name not in ("N", "FN", "ORG")]
    lines.append("END:VCARD")
    return "".join(content_line(line) for line in lines)


def _names(contact: Any, kept: list[tuple[str, str]]) -> list[str]:
    """N, FN and ORG: those the card came with while they still say the contact's names (with
    their additional names, prefixes, suffixes and units), else made of the fields."""
    first, last, company = contact.first_name, contact.last_name, contact.company

    def kept_line(name: str, agrees: Any) -> str | None:
        for found, line in kept:
            value = line.split(":", 1)[1] if ":" in line else ""
            if found == name and agrees(value):
                return line
        return None

    n = kept_line("N", lambda value: structured(value)[:2] == [last or "", first or ""])
    if n is None:
        n = "N:" + serializeFields([last or "", first or "", "", "", ""])  # type: ignore[no-untyped-call]
    wanted = [part for part in (first, last) if part] or [company or ""]
    fn = kept_line("FN", lambda value: all(part in text(value) for part in wanted))
    fields = {"first_name": first, "last_name": last, "company": company}
    lines = [n, fn or f"FN:{backslashEscape(written_full_name(fields))}"]
    if company is not None:
        org = kept_line("ORG", lambda value: structured(value)[0] == company)
        lines.append(org or f"ORG:{backslashEscape(company)}")
    return lines


class _Groups:
    """Group names for labels of one's own: item1, item2, ... past those the kept lines use."""

    def __init__(self, kept: list[tuple[str, str]]) -> None:
        used = [line.split(".", 1)[0] for _, line in kept if "." in line.split(":", 1)[0]]
        numbers = [int(group[4:]) for group in used if group[4:].isdigit()]
        self.next = max(numbers, default=0) + 1

    def new(self) -> str:
        self.next += 1
        return f"item{self.next - 1}"


def _entry(
    name: str, entry: dict[str, Any], primary: bool, version: Version, groups: _Groups
) -> list[str]:
    if name == "ADR":
        value = serializeFields([entry.get(part) or "" for part in ADR_ORDER])  # type: ignore[no-untyped-call]
    elif name == "URL":
        value = entry["url"]
    else:
        value = backslashEscape(entry["address" if name == "EMAIL" else "number"])
    label = entry.get("label")
    types = _types(label)
    kinds = [*(types or []), *(["pref"] if primary and version == "3.0" else [])]
    parameters = ";TYPE=" + ",".join(kinds) if kinds else ""
    if primary and version == "4.0":
        parameters += ";PREF=1"
    if types is None:
        group = groups.new()
        return [
            f"{group}.{name}{parameters}:{value}",
            f"{group}.X-ABLabel:{backslashEscape(label or '')}",
        ]
    return [f"{name}{parameters}:{value}"]


def _birthday(birthday: str, version: Version) -> str:
    year, month, day = birthday.rsplit("-", 2)
    if not year.strip("-"):
        if version == "3.0":
            # vCard 3.0 has no date without a year: Apple's way, which others read.
            return f"BDAY;X-APPLE-OMIT-YEAR=1604:1604-{month}-{day}"
        return f"BDAY:--{month}{day}"
    return f"BDAY:{birthday}" if version == "3.0" else f"BDAY:{year}{month}{day}"


def to_vcard(contacts: Iterable[Any]) -> str:
    """The vCard 4.0 file of `contacts`: one card each."""
    return "".join(write_card(contact, "4.0") for contact in contacts)
