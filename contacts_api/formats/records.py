"""What every reader gives: one `CardRead` per card or row, its values each checked.

A reader finds the values of a card or a row and hands them to a `Draft`, one at a time.
The draft checks each value with the rule of its field (`check_value`, the rule a request
body meets), keeps it, or leaves it out with a warning in words that name the value and
say what is wrong. A record with a name becomes a contact however many values it loses;
only a record without any name is refused.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contacts_api.models.contacts import (
    ADDRESS_PARTS,
    MAX_ADDRESSES,
    MAX_EMAILS,
    MAX_PHONES,
    MAX_UID_LENGTH,
    MAX_WEBSITES,
)
from contacts_api.models.types import (
    AddressPart,
    Birthday,
    Email,
    EntryLabel,
    LabelName,
    Name,
    Notes,
    OrganizationText,
    PhoneNumber,
    WebsiteUrl,
    check_value,
    no_control_characters,
)

# A bound on the work of one import.
MAX_RECORDS = 20_000
MAX_LABELS = 20
# What the vCard properties that no field holds may take of one contact.
MAX_KEPT_BYTES = 1_048_576


class NotAContactFile(ValueError):
    """The upload is no vCard nor CSV file this service reads, or a card has no name."""


@dataclass
class CardRead:
    """One card or row read: the fields of a `ContactCreate` (each value checked), the vCard
    UID, the properties kept as they came, and a warning for each value left out."""

    fields: dict[str, Any]
    uid: str | None = None
    kept: str | None = None  # unfolded content lines, each ending in CRLF
    warnings: list[str] = field(default_factory=list)
    # Why the card's UID was left out (it gets a new one), when it was.
    uid_problem: str = ""


@dataclass
class Record:
    """One record of an uploaded file: what was read, or why it makes no contact."""

    item: int  # counted from 1 in file order
    card: CardRead | None = None
    problem: str = ""


def uid_problem(uid: str) -> str:
    """Why a card's UID cannot be a contact's, or "" when it can."""
    if len(uid) > MAX_UID_LENGTH:
        return f"it is longer than {MAX_UID_LENGTH} characters"
    try:
        no_control_characters(uid)
    except ValueError as exc:
        return f"it {exc}"
    return ""


def check_count(count: int) -> None:
    if count > MAX_RECORDS:
        raise NotAContactFile(f"The file holds {count} records, more than {MAX_RECORDS}: split it")


def shown(value: str) -> str:
    """A value as a warning quotes it: at most 40 characters."""
    return repr(value if len(value) <= 40 else value[:39] + "…")


def clean_text(value: str | None) -> str:
    """Trimmed; spaces of any kind plain, invisible direction marks and the like gone (iPhones
    write the spaces of a number as no-break spaces)."""
    characters = []
    for char in (value or "").strip():
        category = unicodedata.category(char)
        if category == "Zs":
            characters.append(" ")
        elif category != "Cf":
            characters.append(char)
    return "".join(characters).strip()


# The groups Google gives every contact ("* myContacts", "* starred"; "System Group: My
# Contacts" in old files; "myContacts" in its vCards): Google's, not the user's labels.
GOOGLE_SYSTEM_GROUP = re.compile(r"\*|System Group:|(myContacts|starred)$", re.IGNORECASE)
STARRED = re.compile(r"\*\s*starred$|System Group:\s*Starred", re.IGNORECASE)


def digits(number: str) -> str:
    """A phone number's digits, its extension left out: what two numbers are compared by."""
    return "".join(char for char in re.split(r"(?i)x|ext|;", number)[0] if char.isdigit())


class Draft:
    """The values of one record, each checked as it comes."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {
            "emails": [],
            "phones": [],
            "addresses": [],
            "websites": [],
            "labels": [],
        }
        self.warnings: list[str] = []
        self.kept: list[str] = []  # content lines for the contact's vCards
        self._kept_bytes = 0

    def keep(self, name: str, line: str) -> None:
        """A vCard content line kept as it came, within MAX_KEPT_BYTES a contact."""
        size = len(line.encode()) + 2
        if self._kept_bytes + size > MAX_KEPT_BYTES:
            self.warn(name, line, "the properties kept of one contact would pass 1 MiB")
            return
        self._kept_bytes += size
        self.kept.append(line)

    def warn(self, what: str, value: str, problem: str) -> None:
        self.warnings.append(f"{what} {shown(value)} left out: {problem}")

    def _checked(self, kind: Any, value: str, what: str) -> Any:
        try:
            return check_value(kind, value)
        except ValueError as exc:
            self.warn(what, value, str(exc))
            return None

    def text(self, key: str, value: str | None, what: str) -> bool:
        """A name, company, job title, note or birthday; False when it breaks its rule."""
        value = (value or "").strip() if key == "notes" else clean_text(value)
        if not value:
            return True
        kind = {
            "first_name": Name,
            "last_name": Name,
            "company": OrganizationText,
            "job_title": OrganizationText,
            "notes": Notes,
            "birthday": Birthday,
        }[key]
        if self.fields.get(key):
            if key != "notes":
                self.warn(what, value, f"the contact has one already ({self.fields[key]!r})")
                return False
            value = f"{self.fields[key]}\n{value}"
        checked = self._checked(kind, value, what)
        if checked is not None:
            self.fields[key] = checked
        return checked is not None

    def label(self, label: str | None, what: str) -> str | None:
        label = clean_text(label)
        if not label:
            return None
        checked: str | None = self._checked(EntryLabel, label, f"the label of {what}")
        return checked

    def _add(self, key: str, entry: dict[str, Any], limit: int, what: str, shown: str) -> bool:
        if self._full(key, limit, what, shown):
            return False
        self.fields[key].append(entry)
        return True

    def _full(self, key: str, limit: int, what: str, shown: str) -> bool:
        """Whether the list is full, asked before a value is checked too: checking an address
        costs about 0.1 ms, and a card of 1 MiB holds 30,000 of them."""
        if len(self.fields[key]) < limit:
            return False
        self.warn(what, shown, f"a contact has at most {limit}")
        return True

    def email(self, address: str | None, label: str | None, what: str = "email") -> bool:
        address = clean_text(address)
        if not address:
            return True
        if self._full("emails", MAX_EMAILS, what, address):
            return False
        checked = self._checked(Email, address, what)
        if checked is None:
            return False
        if any(entry["address"] == checked for entry in self.fields["emails"]):
            return True  # written twice: nothing is lost
        entry = {"address": checked, "label": self.label(label, what)}
        return self._add("emails", entry, MAX_EMAILS, what, address)

    def phone(self, number: str | None, label: str | None, what: str = "phone") -> bool:
        number = clean_text(number)
        if number.lower().startswith("tel:"):
            # vCard 4.0 may write a number as a URI: tel:+1-555-555-0100;ext=12.
            number = number[4:]
        if not number:
            return True
        if self._full("phones", MAX_PHONES, what, number):
            return False
        checked = self._checked(PhoneNumber, number, what)
        if checked is None:
            return False
        entry = {"number": checked, "label": self.label(label, what)}
        return self._add("phones", entry, MAX_PHONES, what, number)

    def website(self, url: str | None, label: str | None, what: str = "website") -> bool:
        url = clean_text(url)
        if not url:
            return True
        checked = self._checked(WebsiteUrl, url, what)
        if checked is None:
            return False
        entry = {"url": checked, "label": self.label(label, what)}
        return self._add("websites", entry, MAX_WEBSITES, what, url)

    def address(self, parts: Mapping[str, str | None], label: str | None, what: str) -> bool:
        """An address from its parts (po_box, extended, street, city, region, postal_code,
        country); a part that breaks the rule is left out alone."""
        entry: dict[str, Any] = {"label": self.label(label, what)}
        whole = ", ".join(value.strip() for value in parts.values() if value and value.strip())
        good = True
        for part in ADDRESS_PARTS:
            value = (parts.get(part) or "").strip()
            entry[part] = self._checked(AddressPart, value, f"{what} ({part})") if value else None
            good = good and (entry[part] is not None or not value)
        if all(entry[part] is None for part in ADDRESS_PARTS):
            return not whole
        return self._add("addresses", entry, MAX_ADDRESSES, what, whole) and good

    def labels(self, names: list[str], what: str = "label", split: bool = True) -> bool:
        """Label names: each part between "," and ";" a label (each name one, without
        `split`: a vCard's list values, whose escaped commas are no separators), Google's
        own groups left out (its "starred" is the favourite flag). False when a name makes
        no label: the caller keeps the value as it came."""
        taken = True
        for name in names:
            if STARRED.match(name.strip()):
                self.fields["favorite"] = True
                continue
            for part in re.split("[,;]", name) if split else [name]:
                part = clean_text(part)
                if not part or GOOGLE_SYSTEM_GROUP.match(part):
                    continue
                checked = self._checked(LabelName, part, what)
                if checked is None:
                    taken = False
                    continue
                if checked.casefold() in map(str.casefold, self.fields["labels"]):
                    continue
                if len(self.fields["labels"]) >= MAX_LABELS:
                    self.warn(what, part, f"a contact has at most {MAX_LABELS} labels")
                    taken = False
                    continue
                self.fields["labels"].append(checked)
        return taken

    def has_name(self) -> bool:
        return any(self.fields.get(key) for key in ("first_name", "last_name", "company"))

    def card(self, uid: str | None = None, uid_problem: str = "") -> CardRead:
        kept = "".join(f"{line}\r\n" for line in self.kept)
        return CardRead(
            self.fields, uid=uid, kept=kept or None, warnings=self.warnings,
            uid_problem=uid_problem,
        )  # fmt: skip


def split_name(full: str) -> tuple[str, str]:
    """First and last name of a name in one piece: the last word is the family name."""
    *given, family = full.split() or [""]
    return " ".join(given), family
