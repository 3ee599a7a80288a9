"""Import of the files other programs export: vCard 2.1, 3.0 and 4.0, Google's and Outlook's CSV.

The files in tests/data/import/ are in the shape each program gives its export
(tests/data/import/README.md says what each one shows). Each test imports one file over HTTP
and checks the whole outcome: every card with a name created, with the preferred email and
phone first, and a warning in words for each value left out.
"""

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacts_api.formats import read_records
from tests.test_import_export import Headers, book, upload

FILES = Path(__file__).parent / "data" / "import"

# File, the warnings of its report, and its contacts in list order: first name, last name,
# company, primary email, primary phone, birthday, how many emails, phones, addresses and
# websites, labels.
CASES: list[tuple[str, list[dict[str, Any]], list[tuple[Any, ...]]]] = [
    (
        "android-2.1.vcf",
        [],
        [
            (
                "Chidi",
                "Okafor",
                None,
                "chidi.okafor@example.org",
                "+234 1 555 0102",
                "1980-03-22",
                2,
                2,
                0,
                0,
                [],
            ),
            ("Plumber", None, None, None, "555-0104", None, 0, 1, 0, 0, []),
            (
                "Björn",
                "Åström",
                None,
                "bjorn@example.se",
                "+46 70 555 01 03",
                "1975-11-05",
                1,
                1,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "blackberry-2.1.vcf",
        [],
        [
            (
                None,
                None,
                "Example Couriers",
                "dispatch@example.pl",
                "+48 22 555 01 22",
                None,
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Marek",
                "Kowalski",
                None,
                "marek.kowalski@example.pl",
                "+48 601 555 021",
                "1980-03-22",
                1,
                2,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "evolution-3.0.vcf",
        [],
        [
            ("Jakub", "Dvorak", None, None, "+420 602 555 020", "1990-10-28", 0, 1, 0, 0, []),
            (
                "Petra",
                "Novak",
                None,
                "petra.novak@example.cz",
                "+420 601 555 018",
                "1983-06-09",
                1,
                2,
                0,
                0,
                ["Climbing", "Friends"],
            ),
        ],
    ),
    (
        "gmail-3.0.vcf",
        [],
        [
            (
                "Sam",
                "Lee",
                None,
                "sam.lee@example.com",
                "+1 415 555 0114",
                "--08-30",
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Priya",
                "Raman",
                None,
                "priya.raman@example.in",
                "+91 98450 55012",
                "1992-08-15",
                2,
                2,
                1,
                1,
                ["Family"],
            ),
        ],
    ),
    (
        "google-old.csv",
        [],
        [
            (
                "Grace",
                "Obi",
                None,
                "grace.obi@example.com",
                "+44 20 7946 0130",
                "1979-09-09",
                2,
                1,
                0,
                0,
                ["Coworkers"],
            ),
            ("Ivan", "Petrov", None, "ivan@example.ru", "+7 495 555 0131", None, 1, 1, 0, 0, []),
        ],
    ),
    (
        "google.csv",
        [],
        [
            (
                "Wei",
                "Chen",
                "Example Labs",
                "wei.chen@example.com",
                "+1 415-555-0124",
                "1990-04-15",
                3,
                3,
                1,
                1,
                ["Book club", "Friends"],
            ),
            (
                None,
                None,
                "Example Bakery",
                "orders@example.com",
                "+1 212-555-0129",
                None,
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Lucía",
                "Gómez",
                None,
                "lucia@example.es",
                "+34 612 555 027",
                "--03-22",
                1,
                1,
                0,
                0,
                [],
            ),
            ("Omar", "Haddad", None, None, "+961 3 555 028", "1985-11-02", 0, 1, 0, 0, ["Family"]),
        ],
    ),
    (
        "iphone-3.0.vcf",
        [],
        [
            (
                "Élodie",
                "Moreau",
                None,
                "elodie@example.fr",
                "+33 6 55 50 01 07",
                "--07-14",
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Yuki",
                "Tanaka",
                "Example Trading Co.",
                "yuki@example.jp",
                "+81 90 5550 0105",
                "1988-12-01",
                2,
                2,
                1,
                1,
                ["Tokyo office", "Work"],
            ),
        ],
    ),
    (
        "lotus-notes-3.0.vcf",
        [],
        [
            ("Rui", "Costa", None, "rui.costa@example.pt", None, "1981-05-05", 1, 0, 0, 0, []),
            (
                "Ana",
                "Ferreira",
                None,
                "ana.ferreira@example.pt",
                "+351 91 555 0123",
                "1977-01-31",
                2,
                2,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "outlook-2.1.vcf",
        [
            {
                "item": 2,
                "detail": "phone (TEL) 'BusinessPhone' left out: use digits with an optional leading +, the separators space - . ( ) /, * and #, and an extension such as x12",  # noqa: E501
            }
        ],
        [
            ("Tunde", "Adeyemi", None, "tunde@example.com", None, "1979-02-14", 1, 0, 0, 0, []),
            (
                "Margaret",
                "Whitfield",
                "Contoso Ltd.",
                "margaret.whitfield@example.com",
                "(555) 010-0108",
                "1980-03-22",
                1,
                2,
                1,
                1,
                [],
            ),
        ],
    ),
    (
        "outlook-com.csv",
        [{"item": 2, "detail": "Birthday '22/3/1980' left out: not a date written M/D/YYYY"}],
        [
            (
                "Tom",
                "Baker",
                None,
                "tom.baker@example.co.uk",
                "+44 7700 900138",
                None,
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Aisha",
                "Bello",
                None,
                "aisha.bello@example.com",
                "+234 802 555 0137",
                "1991-07-04",
                1,
                2,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "outlook-windows-1252.vcf",
        [],
        [
            (
                "Anaïs",
                "Lefèvre",
                None,
                "anais@example.fr",
                "+33 1 55 50 01 11",
                None,
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Jürgen",
                "Müller",
                None,
                "juergen.mueller@example.de",
                "+49 151 5550110",
                "1966-09-30",
                1,
                1,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "outlook.csv",
        [
            {
                "item": 3,
                "detail": "email '/o=ExchangeLabs/ou=Exchange Administrat…' left out: an Exchange account's address, not an email address",  # noqa: E501
            }
        ],
        [
            (
                "Heinrich",
                "Müller",
                "Beispiel GmbH",
                "heinrich.mueller@example.de",
                "+49 171 5550133",
                "1980-03-22",
                1,
                2,
                0,
                0,
                ["Golf", "Kunden"],
            ),
            (
                "Daniel",
                "Park",
                None,
                "daniel.park@example.com",
                "(555) 010-0135",
                "1975-11-03",
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Sofia",
                "Rossi",
                None,
                "sofia.rossi@example.it",
                "+39 02 5550134",
                None,
                1,
                1,
                0,
                0,
                [],
            ),
        ],
    ),
    (
        "thunderbird-4.0.vcf",
        [],
        [
            (
                "Quentin",
                "Blake",
                None,
                "quentin@example.org",
                "+44 20 7946 0118",
                "--03-22",
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Noël",
                "Dubois",
                None,
                "noel@example.org",
                "+33-6-55-50-01-17",
                "1970-12-24",
                1,
                1,
                0,
                0,
                [],
            ),
            (
                "Hannah",
                "Schmidt",
                None,
                "hannah.schmidt@example.de",
                "+49 170 5550115",
                "1985-12-31",
                2,
                2,
                0,
                0,
                [],
            ),
        ],
    ),
]


@pytest.mark.parametrize(("filename", "warnings", "contacts"), CASES, ids=[c[0] for c in CASES])
def test_a_file_another_program_exports_makes_every_named_card_a_contact(
    client: TestClient,
    ann: Headers,
    filename: str,
    warnings: list[dict[str, Any]],
    contacts: list[tuple[Any, ...]],
) -> None:
    response = upload(client, ann, (FILES / filename).read_bytes(), filename)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "created": len(contacts),
        "skipped": [],
        "errors": [],
        "warnings": warnings,
    }
    assert [
        (
            c["first_name"], c["last_name"], c["company"], c["email"], c["phone"], c["birthday"],
            len(c["emails"]), len(c["phones"]), len(c["addresses"]), len(c["websites"]),
            c["labels"],
        )
        for c in book(client, ann)
    ] == contacts  # fmt: skip
    # The same file again creates nothing.
    again = upload(client, ann, (FILES / filename).read_bytes(), filename).json()
    assert (again["created"], len(again["skipped"])) == (0, len(contacts))


@pytest.mark.parametrize(
    ("filename", "notes"),
    [
        # A quoted-printable note with a soft line break.
        (
            "android-2.1.vcf",
            "Träffades på konferensen i Göteborg, gillar kaffe\nRing helst efter fem",
        ),
        # Quoted-printable with =0D=0A line breaks and soft line breaks.
        (
            "outlook-2.1.vcf",
            "Met at the trade fair in Chicago.\nSend the catalogue in spring, not before.",
        ),
        # CHARSET=Windows-1252, an en dash (=96).
        ("outlook-windows-1252.vcf", "Grüße an die Familie \u2013 bis bald"),
        # A CRLF inside a quoted cell of a Windows-1252 file.
        ("outlook.csv", "Bevorzugt Anrufe am Vormittag.\nSpricht Englisch."),
        ("google.csv", "Met at the meetup.\nLikes hiking"),
    ],
)
def test_notes_come_through_every_encoding(
    client: TestClient, ann: Headers, filename: str, notes: str
) -> None:
    upload(client, ann, (FILES / filename).read_bytes(), filename)
    assert notes in [contact["notes"] for contact in book(client, ann)]


@pytest.mark.parametrize(
    ("filename", "labels"),
    [
        ("iphone-3.0.vcf", [["Work", "Tokyo office"], []]),
        ("gmail-3.0.vcf", [["Family"], []]),  # not Google's own myContacts
        ("evolution-3.0.vcf", [["Friends", "Climbing"], []]),
        ("google.csv", [["Friends", "Book club"], [], ["Family"], []]),  # not * myContacts
        ("google-old.csv", [["Coworkers"], []]),  # not * My Contacts
        ("outlook.csv", [["Kunden", "Golf"], [], []]),
    ],
)
def test_categories_and_google_labels_become_the_records_labels(
    filename: str, labels: list[list[str]]
) -> None:
    records = read_records((FILES / filename).read_bytes())
    assert [record.card.fields["labels"] for record in records if record.card] == labels
