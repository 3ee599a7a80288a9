"""The test that matters: import a realistic whole book, export it, and count what was lost.

`google-book-40.csv` is a Google Contacts CSV export of 40 people and `iphone-book-30.vcf` an
iPhone export of 30 (tests/data/import/README.md says what each holds). Every value of the
file (every cell; every property's value, each part of N, ORG and ADR apart) must be found
again in the vCard export of its contact, and each round trip gives the book back.
"""

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contacts_api.formats import read_card
from contacts_api.formats.vcard_lines import find_cards
from tests.test_import_export import Headers, book, export, import_file

FILES = Path(__file__).parent / "data" / "import"
Key = tuple[str, str, str]


def norm(value: str) -> str:
    """A value as compared: its escapes undone, case, white space, dashes and backslashes
    aside (`+380 67 555 0101` and `+380\u00a067…`, `1988-04-12` and `19880412` are one)."""
    value = re.sub(r"\\[nN]", " ", value)
    return re.sub(r"[\s\-\\]", "", value).casefold()


def key_of(first: str | None, last: str | None, company: str | None) -> Key:
    return ((first or "").casefold(), (last or "").casefold(), (company or "").casefold())


def exported_cards(cards_text: str) -> dict[Key, str]:
    """Each exported card's text (unfolded, normalised), by its names and company."""
    found = {}
    for card in cards_text.split("END:VCARD\r\n")[:-1]:
        fields = read_card(card + "END:VCARD\r\n").fields
        key = key_of(fields.get("first_name"), fields.get("last_name"), fields.get("company"))
        found[key] = norm(card.replace("\r\n ", ""))
    return found


def csv_values(row: dict[str, str]) -> tuple[Key, list[str]]:
    """A Google row's values: each cell, several in one cell apart; Google's own groups and
    the formatted address (made of the address's parts) aside; `* starred` as X-FAVORITE."""
    key = key_of(row["First Name"], row["Last Name"], row["Organization Name"])
    values = []
    for column, cell in row.items():
        if not cell.strip() or column.endswith(" - Formatted"):
            continue
        for value in cell.split(" ::: "):
            value = value.strip().removeprefix("* ")
            if value == "myContacts":
                continue
            values.append("X-FAVORITE:TRUE" if value == "starred" else value)
    return key, values


def vcard_values(card: list[str]) -> tuple[Key, list[str]]:
    """A card's values: each property's (each part of N, ORG and ADR apart), BEGIN, END and
    VERSION aside; a birthday that Apple writes in the year 1604 as its day."""
    fields = read_card("\r\n".join(card) + "\r\n").fields
    key = key_of(fields.get("first_name"), fields.get("last_name"), fields.get("company"))
    values = []
    unfolded = "\r\n".join(card).replace("\r\n ", "").split("\r\n")
    for line in unfolded[2:-1]:
        name_part, value = line.split(":", 1)
        name = name_part.split(";")[0].split(".")[-1].upper()
        if name == "BDAY" and "X-APPLE-OMIT-YEAR" in name_part:
            value = value[4:]
        if name == "X-ABLABEL":  # Apple's own labels, _$!<Other>!$_, are the word
            value = re.sub(r"_\$!<(.*)>!\$_", r"\1", value)
        parts = re.split(r"(?<!\\);", value) if name in ("N", "ORG", "ADR") else [value]
        if name == "CATEGORIES":
            parts = re.split(r"(?<!\\),", value)
        values += [part for part in parts if part]
    return key, values


def lost_values(records: list[tuple[Key, list[str]]], cards: dict[Key, str]) -> list[str]:
    lost = []
    for key, values in records:
        text = cards.get(key)
        lost += [f"{key}: {value}" for value in values if text is None or norm(value) not in text]
    return lost


@pytest.mark.parametrize(
    ("filename", "records", "warned"),
    [("google-book-40.csv", 40, 0), ("iphone-book-30.vcf", 30, 0)],
)
def test_a_realistic_book_imports_whole_and_exports_with_nothing_lost(
    client: TestClient, ann: Headers, bob: Headers, filename: str, records: int, warned: int
) -> None:
    data = (FILES / filename).read_bytes()
    report = import_file(client, ann, data)
    cards = export(client, ann)

    if filename.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        found = [csv_values(row) for row in rows]
    else:
        found = [vcard_values(card) for card in find_cards(data.decode()) if card]
    lost = lost_values(found, exported_cards(cards))
    print(
        f"\n{filename}: {len(found)} records, {report['created']} created, "
        f"{len({w['item'] for w in report['warnings']})} with a warning, "
        f"{len(report['errors'])} refused, {len(lost)} values lost"
    )
    assert (report["created"], report["skipped"], report["errors"]) == (records, [], [])
    assert len(report["warnings"]) == warned
    assert lost == [], "\n".join(lost)

    # Both round trips give the book back, the vCard one every kept property too.
    for file_format in ("vcard", "csv"):
        client.delete("/api/contacts/trash", headers=bob)
        for contact in client.get("/api/contacts", headers=bob, params={"limit": 100}).json()[
            "items"
        ]:
            client.delete(f"/api/contacts/{contact['id']}", headers=bob)
        again = import_file(client, bob, export(client, ann, file_format))
        assert (again["created"], again["warnings"]) == (records, [])
        assert book(client, bob) == book(client, ann)
    client.delete("/api/contacts/trash", headers=bob)
    for contact in client.get("/api/contacts", headers=bob, params={"limit": 100}).json()["items"]:
        client.delete(f"/api/contacts/{contact['id']}", headers=bob)
    import_file(client, bob, cards)
    assert export(client, bob) == cards
