"""Import of the files other programs export: vCard 2.1, 3.0 and 4.0, Google's and Outlook's CSV.

The files in tests/data/import/ were written for these tests, in the shape each program gives
its export (tests/data/import/README.md says what each one shows). Each test imports one file
over HTTP and checks the whole outcome: exactly the complete cards created, with the preferred
email and phone, and every other card one error whose words name its field.
"""

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacts_api.formats import read_records
from tests.helpers import contact_data
from tests.test_import_export import Headers, upload

FILES = Path(__file__).parent / "data" / "import"


def contact(
    first_name: str, last_name: str, email: str, phone: str, birthday: str, **more: Any
) -> dict[str, Any]:
    return contact_data(
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        birthday=birthday,
        **more,
    )


def errors(*details: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"item": item, "detail": detail} for item, detail in details]


# File, the contacts it makes (by email), the cards or rows it refuses.
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        # TEL;HOME;PREF and EMAIL;WORK;PREF, a quoted-printable name and a note with a soft
        # line break, a base64 PHOTO over 270 indented lines that ends with a blank line.
        "android-2.1.vcf",
        [
            contact(
                "Björn",
                "Åström",
                "bjorn@example.se",
                "+46 70 555 01 03",
                "1975-11-05",
                notes="Träffades på konferensen i Göteborg, gillar kaffe\nRing helst efter fem",
            ),
            contact("Chidi", "Okafor", "chidi.okafor@example.org", "+234 1 555 0102", "1980-03-22"),
        ],
        errors((3, "no last name (N or FN); no email (EMAIL); no birthday (BDAY)")),
    ),
    (
        # item1.EMAIL with its X-ABLabel, type=pref, no-break spaces in the number, a folded
        # PHOTO, ADR/URL/X-SOCIALPROFILE passed over; a birthday without a year as 1604.
        "iphone-3.0.vcf",
        [
            contact(
                "Yuki",
                "Tanaka",
                "yuki@example.jp",
                "+81 90 5550 0105",
                "1988-12-01",
                notes="Prefers LINE, then email.\nVegetarian.",
            ),
        ],
        errors((2, "birthday '1604-07-14' has no year")),
    ),
    (
        # EMAIL;PREF;INTERNET, a quoted-printable NOTE and LABEL with soft line breaks, the
        # X-MS-OL-DESIGN card layout; a phone field left at Outlook's placeholder.
        "outlook-2.1.vcf",
        [
            contact(
                "Margaret",
                "Whitfield",
                "margaret.whitfield@example.com",
                "(555) 010-0108",
                "1980-03-22",
                notes="Met at the trade fair in Chicago.\nSend the catalogue in spring, "
                "not before.",
            ),
        ],
        errors((2, "phone 'BusinessPhone' has no digits")),
    ),
    (
        # Not UTF-8: CHARSET=Windows-1252 and ISO-8859-1 values, raw and quoted-printable.
        "outlook-windows-1252.vcf",
        [
            contact(
                "Jürgen",
                "Müller",
                "juergen.mueller@example.de",
                "+49 151 5550110",
                "1966-09-30",
                notes="Grüße an die Familie \u2013 bis bald",  # an en dash, =96 in the file
            ),
        ],
        errors((2, "no birthday (BDAY)")),
    ),
    (
        # LF line ends, TYPE=INTERNET;TYPE=HOME without a preference (the first is kept),
        # CATEGORIES with Google's myContacts, a birthday written --08-30.
        "gmail-3.0.vcf",
        [
            contact(
                "Priya",
                "Raman",
                "priya.raman@example.in",
                "+91 98450 55012",
                "1992-08-15",
                notes="Cousin of Arjun. Allergic to peanuts.",
            ),
        ],
        errors((2, "birthday '--08-30' has no year")),
    ),
    (
        # PREF=1 on a later EMAIL and TEL, VALUE=TEXT and a tel: URI, BDAY;VALUE=DATE:--0322.
        "thunderbird-4.0.vcf",
        [
            contact(
                "Hannah",
                "Schmidt",
                "hannah.schmidt@example.de",
                "+49 170 5550115",
                "1985-12-31",
                notes="Buchclub, jeden ersten Dienstag",
            ),
            contact("Noël", "Dubois", "noel@example.org", "+33-6-55-50-01-17", "1970-12-24"),
        ],
        errors((3, "birthday '--0322' has no year")),
    ),
    (
        # Blank lines between the cards and inside one, X-EVOLUTION-* parameters.
        "evolution-3.0.vcf",
        [contact("Petra", "Novak", "petra.novak@example.cz", "+420 601 555 018", "1983-06-09")],
        errors((2, "no email (EMAIL)")),
    ),
    (
        # N with two parts, a bare PREF, a birthday as a date-time; a company without a name.
        "blackberry-2.1.vcf",
        [
            contact(
                "Marek",
                "Kowalski",
                "marek.kowalski@example.pl",
                "+48 601 555 021",
                "1980-03-22",
                notes="Golf on Sundays",
            ),
        ],
        errors((2, "no name (N or FN); no birthday (BDAY)")),
    ),
    (
        # BEGIN:vCard in mixed case, TYPE=PREF and TYPE=CELL,PREF as one list.
        "lotus-notes-3.0.vcf",
        [contact("Ana", "Ferreira", "ana.ferreira@example.pt", "+351 91 555 0123", "1977-01-31")],
        errors((2, "no phone (TEL)")),
    ),
    (
        # Google Contacts' export today: "a ::: b" cells, Labels, a birthday without a year.
        "google.csv",
        [
            contact(
                "Wei",
                "Chen",
                "wei.chen@example.com",
                "+1 415-555-0124",
                "1990-04-15",
                notes="Met at the meetup.\nLikes hiking",
            ),
        ],
        errors(
            (2, "birthday '--03-22' has no year"),
            (3, "no email (E-mail 1 - Value)"),
            (4, "no name (First Name or Last Name); no birthday (Birthday)"),
        ),
    ),
    (
        # The older "Google CSV": Given Name, Family Name, Group Membership.
        "google-old.csv",
        [
            contact(
                "Grace",
                "Obi",
                "grace.obi@example.com",
                "+44 20 7946 0130",
                "1979-09-09",
                notes="Project lead",
            )
        ],
        errors((2, "no birthday (Birthday)")),
    ),
    (
        # Outlook's own export, in Windows-1252: "0/0/00" for no birthday, an Exchange
        # address before the SMTP one, the mobile phone kept over the business phone.
        "outlook.csv",
        [
            contact("Daniel", "Park", "daniel.park@example.com", "(555) 010-0135", "1975-11-03"),
            contact(
                "Heinrich",
                "Müller",
                "heinrich.mueller@example.de",
                "+49 171 5550133",
                "1980-03-22",
                notes="Bevorzugt Anrufe am Vormittag.\nSpricht Englisch.",
            ),
        ],
        errors((2, "no birthday (Birthday)")),
    ),
    (
        # Outlook.com's export: UTF-8 with a byte order mark, its own column order.
        "outlook-com.csv",
        [
            contact(
                "Aisha",
                "Bello",
                "aisha.bello@example.com",
                "+234 802 555 0137",
                "1991-07-04",
                notes="Runs the book club",
            ),
        ],
        errors((2, "birthday '22/3/1980' is not a date written M/D/YYYY")),
    ),
]


def book_by_email(client: TestClient, headers: Headers) -> list[dict[str, Any]]:
    response = client.get("/api/contacts", headers=headers, params={"limit": 100})
    assert response.status_code == 200
    contacts = [
        {key: value for key, value in found.items() if key in contact_data()}
        for found in response.json()["items"]
    ]
    return sorted(contacts, key=lambda found: found["email"])


@pytest.mark.parametrize(("filename", "created", "refused"), CASES, ids=[c[0] for c in CASES])
def test_a_file_another_program_exports_makes_its_complete_cards_and_names_what_the_others_lack(
    client: TestClient,
    ann: Headers,
    filename: str,
    created: list[dict[str, Any]],
    refused: list[dict[str, Any]],
) -> None:
    response = upload(client, ann, (FILES / filename).read_bytes(), filename)

    assert response.status_code == 200, response.text
    assert response.json() == {"created": len(created), "skipped": [], "errors": refused}
    assert book_by_email(client, ann) == sorted(created, key=lambda found: found["email"])


@pytest.mark.parametrize(
    ("filename", "labels"),
    [
        ("iphone-3.0.vcf", [["Work", "Tokyo office"]]),
        ("gmail-3.0.vcf", [["Family"]]),  # not Google's own myContacts
        ("evolution-3.0.vcf", [["Friends", "Climbing"]]),
        ("google.csv", [["Friends", "Book club"]]),  # not * myContacts, * starred
        ("google-old.csv", [["Coworkers"]]),  # not * My Contacts
        ("outlook.csv", [["Kunden", "Golf"], []]),
    ],
)
def test_categories_and_google_labels_become_the_records_labels(
    filename: str, labels: list[list[str]]
) -> None:
    # Contacts have no labels yet: the records carry them for when they do.
    records = read_records((FILES / filename).read_bytes())
    assert [record.fields["labels"] for record in records if record.fields] == labels
