"""Export as vCard 4.0 or CSV (Google Contacts' layout), and the round trips: export, import
into an empty book, and every field comes back.

The import's report, its rules and its limits are in test_import_report.py; the files of
other programs in test_import_real_files.py and test_import_realistic_books.py.
"""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_contact

Headers = dict[str, str]
# The header of an export of contacts with at most one entry of each list.
EXPORT_HEADER = (
    "First Name,Last Name,Organization Name,Organization Title,Birthday,Notes,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Address 1 - Label,"
    "Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,"
    "Address 1 - Postal Code,Address 1 - Country,Address 1 - Extended Address,"
    "Website 1 - Label,Website 1 - Value\r\n"
)
# The first model's CSV, which import still reads.
FIRST_MODEL_HEADER = "first_name,last_name,email,phone,birthday,notes\r\n"


def export(client: TestClient, headers: Headers, file_format: str = "vcard") -> str:
    response = client.get("/api/contacts/export", headers=headers, params={"format": file_format})
    assert response.status_code == 200, response.text
    return response.text


def upload(client: Any, headers: Headers, content: str | bytes, filename: str = "contacts") -> Any:
    body = content.encode() if isinstance(content, str) else content
    return client.post("/api/contacts/import", headers=headers, files={"file": (filename, body)})


def import_file(client: Any, headers: Headers, content: str | bytes) -> dict[str, Any]:
    response = upload(client, headers, content)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def book(client: Any, headers: Headers) -> list[dict[str, Any]]:
    """Every contact of the user, in list order, without what an import makes anew."""
    found: list[dict[str, Any]] = []
    while True:
        params = {"limit": 100, "offset": len(found)}
        page = client.get("/api/contacts", headers=headers, params=params).json()
        found += [
            {
                key: value
                for key, value in item.items()
                if key not in ("id", "created_at", "updated_at")
            }
            for item in page["items"]
        ]
        if len(found) >= page["total"]:
            return found


def without_uids(cards: str) -> str:
    return re.sub(r"UID:urn:uuid:[0-9a-f-]+\r\n", "UID:…\r\n", cards)


# --- Export --------------------------------------------------------------------------------


def test_a_vcard_export_has_one_vcard_4_card_per_contact(client: TestClient, ann: Headers) -> None:
    create_contact(client, ann, notes="Met at PyCon\nLikes tea")
    create_contact(
        client, ann, first_name="Ann", last_name="Smith", email="ann@example.org", notes=None
    )
    response = client.get("/api/contacts/export", headers=ann)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/vcard; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts.vcf"'
    assert without_uids(response.text) == (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Jones;Carol;;;\r\nFN:Carol Jones\r\n"
        "EMAIL;PREF=1:carol@example.com\r\nTEL;PREF=1:+1 555 010 0199\r\nBDAY:19900517\r\n"
        "NOTE:Met at PyCon\\nLikes tea\r\nUID:…\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Smith;Ann;;;\r\nFN:Ann Smith\r\n"
        "EMAIL;PREF=1:ann@example.org\r\nTEL;PREF=1:+1 555 010 0199\r\nBDAY:19900517\r\n"
        "UID:…\r\nEND:VCARD\r\n"
    )


def test_a_vcard_export_writes_every_field_with_its_label(client: TestClient, ann: Headers) -> None:
    client.post("/api/contacts", headers=ann, json=RICH_CONTACTS[0])
    assert without_uids(export(client, ann)) == (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Kovalenko;Olena;;;\r\nFN:Olena Kovalenko\r\n"
        "ORG:Example Labs\\, Kyiv\r\nTITLE:Engineer\r\n"
        "EMAIL;TYPE=work;PREF=1:olena@example.com\r\nEMAIL;TYPE=home:o.k@example.org\r\n"
        "TEL;TYPE=cell;PREF=1:+380 44 555 0101\r\nTEL;TYPE=work,fax:+380 44 555 0102\r\n"
        "item1.TEL:+380 44 555 0103\r\nitem1.X-ABLabel:Grandma's\r\n"
        "ADR;TYPE=home;PREF=1:;Apt 4;12 Khreshchatyk St\\nBuilding B;Kyiv;;01001;Ukra\r\n"
        " ine\r\n"
        "URL;PREF=1:https://example.com/olena\r\n"
        "BDAY:--0229\r\nNOTE:Line one\\nLine two\\; with\\, commas\r\n"
        "CATEGORIES:Book club,Family\r\nX-FAVORITE:TRUE\r\nUID:…\r\nEND:VCARD\r\n"
    )


def test_a_csv_export_is_in_google_contacts_layout(client: TestClient, ann: Headers) -> None:
    create_contact(client, ann, notes='Said "hi", twice\nthen left')
    response = client.get("/api/contacts/export", headers=ann, params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    # A phone is written as it is: no spreadsheet runs digits, "+", spaces and "-.()".
    assert response.text == EXPORT_HEADER + (
        'Carol,Jones,,,1990-05-17,"Said ""hi"", twice\nthen left",,,carol@example.com,,'
        "+1 555 010 0199,,,,,,,,,,\r\n"
    )


def test_a_csv_export_has_as_many_groups_as_the_widest_contact_needs(
    client: TestClient, ann: Headers
) -> None:
    client.post("/api/contacts", headers=ann, json=RICH_CONTACTS[0])
    exported = export(client, ann, "csv")
    header, row = exported.splitlines()[:2]
    columns = header.split(",")
    assert [name for name in columns if name.endswith(" - Value")] == [
        "E-mail 1 - Value", "E-mail 2 - Value", "Phone 1 - Value", "Phone 2 - Value",
        "Phone 3 - Value", "Website 1 - Value",
    ]  # fmt: skip
    assert "Address 1 - Street" in columns and "Address 2 - Street" not in columns
    assert row.startswith('Olena,Kovalenko,"Example Labs, Kyiv",Engineer,--02-29,')
    assert ",* starred ::: Book club ::: Family," in exported


def test_a_csv_export_writes_a_phone_as_it_is_and_guards_the_free_text_fields(
    client: TestClient, ann: Headers
) -> None:
    create_contact(client, ann, first_name="=HYPERLINK(x)", last_name="+Plus", notes="@note")
    _header, row = export(client, ann, "csv").splitlines()
    cells = row.split(",")
    assert cells[10] == "+1 555 010 0199"
    assert [cells[0], cells[1], cells[5]] == ["'=HYPERLINK(x)", "'+Plus", "'@note"]


def test_a_phone_of_the_first_models_csv_comes_back_unchanged_and_an_old_guarded_one_too(
    client: TestClient, ann: Headers
) -> None:
    csv = FIRST_MODEL_HEADER + (
        "Ann,Smith,ann@example.org,+1 555 010 0199,1990-01-02,\n"
        "Bob,Smith,bob@example.org,'+44 20 7946 0958,1990-01-02,\n"  # exported before
    )
    assert import_file(client, ann, csv)["created"] == 2
    assert [contact["phone"] for contact in book(client, ann)] == [
        "+1 555 010 0199",
        "+44 20 7946 0958",
    ]


def test_an_export_is_in_list_order(client: TestClient, ann: Headers) -> None:
    for last_name, email in (("Young", "y@example.com"), ("Adams", "a@example.com")):
        create_contact(client, ann, last_name=last_name, email=email)
    client.post("/api/contacts", headers=ann, json={"company": "Baker Ltd"})
    lines = export(client, ann, "csv").splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["Carol", "Adams", ""], ["", "", "Baker Ltd"], ["Carol", "Young", ""],
    ]  # fmt: skip


def test_an_empty_book_exports_an_empty_file_or_just_the_header(
    client: TestClient, ann: Headers
) -> None:
    assert export(client, ann, "vcard") == ""
    assert export(client, ann, "csv") == EXPORT_HEADER


def test_an_export_holds_only_your_own_contacts(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, bob, first_name="Secret")
    assert export(client, ann, "vcard") == ""
    assert export(client, ann, "csv") == EXPORT_HEADER


def test_an_unknown_format_is_422(client: TestClient, ann: Headers) -> None:
    response = client.get("/api/contacts/export", headers=ann, params={"format": "xml"})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "format"]]


def test_export_and_import_need_a_token(client: TestClient) -> None:
    assert client.get("/api/contacts/export").status_code == 401
    response = upload(client, {}, FIRST_MODEL_HEADER)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_vcard_lines_are_folded_to_75_octets(client: TestClient, ann: Headers) -> None:
    create_contact(client, ann, notes="é" * 60)  # 120 octets in 65 characters
    lines = export(client, ann).split("\r\n")
    assert max(len(line.encode()) for line in lines) <= 75
    assert [line for line in lines if line.startswith(("NOTE", " "))] == [
        "NOTE:" + "é" * 35,
        " " + "é" * 25,
    ]


def test_line_breaks_in_notes_are_stored_as_newlines(client: TestClient, ann: Headers) -> None:
    # vCard has one escape for a line break, \n: "\r\n" could not come back from a file.
    contact = create_contact(client, ann, notes="one\r\ntwo\rthree\n")
    assert contact["notes"] == "one\ntwo\nthree\n"


def test_an_empty_note_is_stored_as_no_note(client: TestClient, ann: Headers) -> None:
    # CSV has one way to write both, an empty cell.
    assert create_contact(client, ann, notes="")["notes"] is None


# --- Round trips ---------------------------------------------------------------------------


def address(**parts: str | None) -> dict[str, str | None]:
    empty = dict.fromkeys(
        ("label", "po_box", "extended", "street", "city", "region", "postal_code", "country")
    )
    return empty | parts


# Every field, several entries of each list, labels of vCard's types and of one's own,
# unicode, no-year birthdays and 29 February, and values that test the escaping of both
# formats: separators, quotes, backslashes, line breaks, long lines with multi-byte
# characters, and what spreadsheets take for formulas.
RICH_CONTACTS: list[dict[str, Any]] = [
    {
        "first_name": "Olena",
        "last_name": "Kovalenko",
        "company": "Example Labs, Kyiv",
        "job_title": "Engineer",
        "emails": [
            {"address": "olena@example.com", "label": "work"},
            {"address": "o.k@example.org", "label": "home"},
        ],
        "phones": [
            {"number": "+380 44 555 0101", "label": "mobile"},
            {"number": "+380 44 555 0102", "label": "work fax"},
            {"number": "+380 44 555 0103", "label": "Grandma's"},
        ],
        "addresses": [
            address(
                label="home",
                extended="Apt 4",
                street="12 Khreshchatyk St\nBuilding B",
                city="Kyiv",
                postal_code="01001",
                country="Ukraine",
            ),
        ],
        "websites": [{"url": "https://example.com/olena", "label": None}],
        "birthday": "--02-29",
        "notes": "Line one\nLine two; with, commas",
        "favorite": True,
        "labels": ["Family", "Book club"],
    },
    {
        "first_name": "Zoë, Jr; \\o/",
        "last_name": "O'Brien-李",
        "emails": [{"address": "zoe+tag@example.org", "label": "Büro \\ 2"}],
        "phones": [{"number": "(555) 010.0199 x12", "label": "iphone"}],
        "birthday": "2000-02-29",
        "notes": 'Line one\nLine "two"; with, commas\n\n\tand a tab \\ and ' + "é" * 120,
        "favorite": True,
        "labels": ["Zoë's \\ friends", "Book club", "é" * 50, '"quoted"'],
    },
    {
        "first_name": "=SUM(A1)",
        "last_name": "@home",
        "company": "-Minus GmbH",
        "job_title": "+Plus",
        "emails": [{"address": "-dash@example.org", "label": "=work"}],
        "phones": [{"number": "+44 20 7946 0958", "label": "other"}],
        "addresses": [
            address(label="work", po_box="PO Box 7", city="London"),
            address(street="=1 Formula Way", region="@Region", country="UK"),
        ],
        "websites": [
            {"url": "https://example.org/a,b;c", "label": "blog"},
            {"url": "http://example.net/", "label": "home"},
        ],
        "birthday": "1905-12-31",
        "notes": "'=already quoted",
        "labels": ["=cmd", "@home", "'+plus"],
    },
    {"company": "王记 Bakery 🙂", "phones": [{"number": "+86 10 5555 0100", "label": "main"}]},
    {"first_name": "Only", "birthday": "--12-31"},
    {
        "last_name": "Lastonly",
        "notes": None,
        "emails": [{"address": "l@example.org", "label": None}],
    },
    {
        # Line and paragraph separators are no vCard line breaks; emoji take 4 octets.
        "first_name": "Line\u2028Separator",
        "last_name": "Para\u2029Graph",
        "emails": [{"address": "separators@example.org", "label": None}],
        "notes": "a\u2028b\u2029c " + "🙂" * 30 + "é" * 40,
        "favorite": True,
        "labels": ["Book club", "🙂 line\u2028break"],
    },
]


@pytest.mark.parametrize("file_format", ["vcard", "csv"])
def test_export_then_import_into_an_empty_book_gives_every_field_back(
    client: TestClient, ann: Headers, bob: Headers, file_format: str
) -> None:
    for data in RICH_CONTACTS:
        response = client.post("/api/contacts", headers=ann, json=data)
        assert response.status_code == 201, response.text
    exported = export(client, ann, file_format)

    report = import_file(client, bob, exported)

    assert report == {"created": len(RICH_CONTACTS), "skipped": [], "errors": [], "warnings": []}
    assert book(client, bob) == book(client, ann)
    # The same file again: the vCard keeps the UIDs too.
    assert export(client, bob, file_format) == exported


def test_a_vcard_export_imports_to_the_same_csv(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    for data in RICH_CONTACTS:
        client.post("/api/contacts", headers=ann, json=data)
    import_file(client, bob, export(client, ann, "vcard"))
    assert export(client, bob, "csv") == export(client, ann, "csv")


def test_a_reimported_export_creates_nothing_twice(client: TestClient, ann: Headers) -> None:
    for data in RICH_CONTACTS:
        client.post("/api/contacts", headers=ann, json=data)
    for file_format in ("vcard", "csv"):
        report = import_file(client, ann, export(client, ann, file_format))
        assert (report["created"], len(report["skipped"])) == (0, len(RICH_CONTACTS))
    assert len(book(client, ann)) == len(RICH_CONTACTS)
