"""vCard in: 2.1, 3.0 and 4.0 cards, as address books write them, to a contact's fields.

Every property a contact has a field for becomes that field (each email, phone, address and
website with its type as the label, the preferred one first); every other property is kept
as it came, to be written back into the contact's vCards; a value that breaks its field's
rule is left out of the fields with a warning, and kept as its line too.
"""

import re

from vobject.icalendar import stringToTextValues
from vobject.vcard import splitFields

from contacts_api.formats.records import (
    CardRead,
    Draft,
    NotAContactFile,
    Record,
    check_count,
    split_name,
    uid_problem,
)
from contacts_api.formats.vcard_lines import Property, card_properties, find_cards

# The properties that fields hold; all others are kept.
READ = {
    *("VERSION", "UID", "N", "FN", "ORG", "TITLE", "BDAY", "NOTE", "CATEGORIES"),
    *("EMAIL", "TEL", "ADR", "URL", "X-FAVORITE", "X-ABLABEL"),
}
ENTRIES = {"EMAIL": "email", "TEL": "phone", "ADR": "address", "URL": "website"}
# The word for a property in a warning: "birthday (BDAY) '...' left out: ...".
WORDS = ENTRIES | {"BDAY": "birthday", "NOTE": "note", "TITLE": "job title", "ORG": "company"}

# A label is made of the words for a property's types: TEL;TYPE=WORK,FAX is "work fax".
PLACES = {"home": "home", "work": "work", "other": "other"}
KINDS = {
    "cell": "mobile",
    "mobile": "mobile",
    "fax": "fax",
    "pager": "pager",
    "main": "main",
    "iphone": "iphone",
    "car": "car",
    "video": "video",
    "text": "text",
    "textphone": "textphone",
    "isdn": "isdn",
    "modem": "modem",
    "bbs": "bbs",
    "pcs": "pcs",
    "msg": "msg",
}
# Types that say nothing a person calls a number or an address by.
NO_LABEL = {"pref", "internet", "voice", "x400", "dom", "intl", "postal", "parcel"}
# Apple's own labels: _$!<Mobile>!$_, _$!<HomePage>!$_.
APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")


def label_of(types: list[str]) -> str | None:
    """The label of a property's types: `["cell", "pref"]` is "mobile"."""
    words = [PLACES[kind] for kind in types if kind in PLACES]
    for kind in types:
        if kind in KINDS:
            words.append(KINDS[kind])
        elif kind not in PLACES and kind not in NO_LABEL:
            words.append(kind.removeprefix("x-"))
    return " ".join(dict.fromkeys(words)) or None


def _rank(found: Property) -> int:
    """Where an entry stands among those of its kind: PREF=1 (4.0), TYPE=pref (3.0), a bare
    PREF (2.1) first."""
    if "pref" in found.types():
        return 1
    pref = ((found.parameters or {}).get("PREF") or ["101"])[0]
    return int(pref) if re.fullmatch(r"[0-9]{1,3}", pref) else 101


ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def text(value: str) -> str:
    """A text value with its escapes undone: \\n a line break, any other \\x is x (\\, and
    \\; as RFC 6350 has them, and the \\: that Google writes in a URL)."""
    return ESCAPE.sub(lambda found: "\n" if found[1] in "nN" else found[1], value)


def structured(value: str) -> list[str]:
    """The parts of N, ORG or ADR, each unescaped; a part of several values joined by ", "."""
    parts = splitFields(value)
    return [", ".join(part) if isinstance(part, list) else part for part in parts]


def birthday(found: Property) -> str:
    """BDAY as the API writes it: YYYY-MM-DD, or --MM-DD without a year. vCard writes
    19850315, 1985-03-15, a date-time, --0315 (4.0) or Apple's 1604-03-15 with
    X-APPLE-OMIT-YEAR=1604."""
    value = text(found.value).strip()
    full = re.match(r"(\d{4})-?(\d{2})-?(\d{2})(?:T.*)?$", value)
    if full:
        year, month, day = full.groups()
        if year in (found.parameters or {}).get("X-APPLE-OMIT-YEAR", []):
            return f"--{month}-{day}"
        return f"{year}-{month}-{day}"
    no_year = re.fullmatch(r"--(\d{2})-?(\d{2})", value)
    return f"--{no_year[1]}-{no_year[2]}" if no_year else value


def read_vcards(text_: str, raw_bytes: bool = False) -> list[Record]:
    """The records of a vCard file, one a card, in file order."""
    cards = find_cards(text_)
    check_count(len(cards))
    records = []
    for item, lines in enumerate(cards, start=1):
        if lines is None:
            problem = "Not a complete vCard: text outside BEGIN:VCARD … END:VCARD"
            records.append(Record(item, problem=problem))
            continue
        try:
            records.append(Record(item, card=_card(lines, raw_bytes)))
        except NotAContactFile as exc:
            records.append(Record(item, problem=str(exc)))
    return records


def read_card(text_: str, raw_bytes: bool = False) -> CardRead:
    """One vCard's fields, UID, kept properties and warnings; NotAContactFile when the text
    is not one vCard, or the card has no name. `raw_bytes`: as read_vcards."""
    cards = find_cards(text_)
    if len(cards) != 1 or cards[0] is None:
        raise NotAContactFile("Not one vCard: BEGIN:VCARD … END:VCARD")
    return _card(cards[0], raw_bytes)


def _card(lines: list[str], raw_bytes: bool) -> CardRead:
    properties = card_properties(lines[1:-1], raw_bytes, READ)
    entry_groups = {p.group.lower() for p in properties if p.group and p.name in ENTRIES}
    group_labels = {
        p.group.lower(): APPLE_LABEL.sub(lambda found: found[1].lower(), text(p.value))
        for p in properties
        if p.name == "X-ABLABEL" and p.group and p.group.lower() in entry_groups
    }
    draft = Draft()
    kept: list[Property] = []
    uid = full_name = None
    uid_left_out = ""
    # The entries in their order of preference, each kind apart.
    entries = sorted((p for p in properties if p.name in ENTRIES), key=_rank)
    for found in [p for p in properties if p.name not in ENTRIES] + entries:
        name, what = found.name, f"{WORDS.get(found.name, found.name.lower())} ({found.name})"
        if not name:
            draft.warn("the line", found.line, "it is no vCard property")
            continue
        if found.problem:
            draft.warn(what, found.line, found.problem)
            kept.append(found)
            continue
        if name not in READ or (
            name == "X-ABLABEL" and (found.group or "").lower() not in group_labels
        ):
            kept.append(found)
            continue
        label = group_labels.get((found.group or "").lower()) or label_of(found.types())
        good = True
        if name == "UID":
            sent = text(found.value).strip()
            uid_left_out = uid_problem(sent)
            if uid_left_out:
                draft.warn(what, sent, f"{uid_left_out}; the contact has a new one")
            uid = None if uid_left_out else sent or None
        elif name == "N":
            family, given, *more = [*structured(found.value), "", ""]
            good = draft.text("first_name", given, "first name (N)")
            good = draft.text("last_name", family, "last name (N)") and good
            if any(part.strip() for part in more):
                kept.append(found)  # additional names, prefixes, suffixes
        elif name == "FN":
            full_name = found
        elif name == "ORG":
            company, *units = structured(found.value)
            good = draft.text("company", company, what)
            if any(unit.strip() for unit in units):
                kept.append(found)
        elif name == "TITLE":
            good = draft.text("job_title", text(found.value), what)
        elif name == "BDAY":
            good = draft.text("birthday", birthday(found), what)
        elif name == "NOTE":
            good = draft.text("notes", text(found.value), what)
        elif name == "CATEGORIES":
            what = "category (CATEGORIES)"
            good = draft.labels(stringToTextValues(found.value), what, split=False)
        elif name == "X-FAVORITE":
            draft.fields["favorite"] = text(found.value).strip().upper() == "TRUE"
        elif name == "EMAIL":
            good = draft.email(text(found.value), label, what)
        elif name == "TEL":
            good = draft.phone(text(found.value), label, what)
        elif name == "URL":
            good = draft.website(text(found.value), label, what)
        elif name == "ADR":
            box, extended, street, city, region, code, country, *_ = [
                *structured(found.value), *[""] * 7
            ]  # fmt: skip
            parts = {"po_box": box, "extended": extended, "street": street, "city": city,
                     "region": region, "postal_code": code, "country": country}  # fmt: skip
            good = draft.address(parts, label, what)
        if not good:
            kept.append(found)  # the value as it came, for the vCards written of it
    _names_from_full_name(draft, full_name, kept)
    # In the card's order. By identity: list.index compares properties field by field, which
    # made a card of 20,000 EMAIL lines take 84 s (n² comparisons) where this takes milliseconds.
    order = {id(prop): position for position, prop in enumerate(properties)}
    kept.sort(key=lambda prop: order[id(prop)])
    if not draft.has_name():
        raise NotAContactFile("no name (N, FN or ORG)")
    _keep(draft, kept, entry_groups)
    return draft.card(uid, uid_left_out)


def _names_from_full_name(draft: Draft, full_name: Property | None, kept: list[Property]) -> None:
    """FN gives the names that N lacks (vCard 4.0 may leave N out, some phones put the whole
    name in FN alone); FN is kept when it says more than the names."""
    if full_name is None:
        return
    fields = draft.fields
    value = text(full_name.value).strip()
    if not draft.has_name():
        first, last = split_name(value)
        draft.text("first_name", first, "first name (FN)")
        draft.text("last_name", last, "last name (FN)")
    if value and value != written_full_name(fields):
        kept.append(full_name)


def written_full_name(fields: dict[str, object]) -> str:
    """The FN a vCard of these fields has: the names, else the company."""
    names = [str(fields[key]) for key in ("first_name", "last_name") if fields.get(key)]
    return " ".join(names) or str(fields.get("company") or "")


def _keep(draft: Draft, kept: list[Property], entry_groups: set[str]) -> None:
    """The kept lines in card order. A group that an email, phone, address or website had
    is left out of the lines: those are written anew, and the group would tie the kept line
    to another one."""
    for found in kept:
        line = found.line
        if found.group and found.group.lower() in entry_groups:
            line = line[len(found.group) + 1 :]
        draft.keep(found.name or "a line", line)
