"""Import: the report of each record (created, skipped, an error, a warning), the duplicates it
skips, the vCard properties it keeps, and the files it refuses."""

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_contact, new_user
from tests.served import served_app
from tests.test_import_export import (
    FIRST_MODEL_HEADER,
    Headers,
    book,
    export,
    import_file,
    upload,
)


def card(*lines: str, version: str = "3.0") -> str:
    return (
        "BEGIN:VCARD\r\nVERSION:"
        + version
        + "\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "END:VCARD\r\n"
    )


# --- What is created, and the words for what is not ------------------------------------------


def test_a_csv_import_creates_every_named_record_and_says_what_it_left_out(
    client: TestClient, ann: Headers
) -> None:
    create_contact(client, ann, email="known@example.com", first_name="Known", last_name="Person")
    csv = FIRST_MODEL_HEADER + (
        "Ann,Smith,ann@example.com,555 0100 123,1980-01-01,\n"  # 1: created
        "Bad,Email,not-an-email,555 0100 123,1980-01-01,\n"  # 2: created without the email
        "Known,Person,KNOWN@example.com,555 0100 123,1980-01-01,\n"  # 3: in the book
        "ann,SMITH, ann@example.com ,,,\n"  # 4: as item 1
        "Short,Row,short@example.com\n"  # 5: too few fields: created
        ",Nameless,nameless@example.com,12,2999-01-01,\n"  # 6: two values left out
        ",,nobody@example.com,5550100124,1981-02-03,\n"  # 7: no name
    )
    report = import_file(client, ann, csv)
    assert report == {
        "created": 4,
        "skipped": [
            {
                "item": 3,
                "reason": "Same name and company as a contact in your address book, and a "
                "shared email",
            },
            {
                "item": 4,
                "reason": "Same name and company as item 1 of this file, and a shared email",
            },
        ],
        "errors": [{"item": 7, "detail": "no name (first name, last name or company)"}],
        "warnings": [
            {
                "item": 2,
                "detail": "email 'not-an-email' left out: value is not a valid email address: "
                "An email address must have an @-sign.",
            },
            {"item": 5, "detail": "the row has 3 fields, the header 6"},
            {"item": 6, "detail": "birthday '2999-01-01' left out: must not be in the future"},
            {"item": 6, "detail": "phone '12' left out: must have 3 to 20 digits, not 2"},
        ],
    }
    assert [(c["first_name"], c["last_name"], c["email"]) for c in book(client, ann)] == [
        ("Bad", "Email", None),
        (None, "Nameless", "nameless@example.com"),
        ("Known", "Person", "known@example.com"),
        ("Short", "Row", "short@example.com"),
        ("Ann", "Smith", "ann@example.com"),
    ]


def test_a_vcard_import_reports_cards_it_cannot_read(client: TestClient, ann: Headers) -> None:
    good = card("N:Doe;Jane;;;", "FN:Jane Doe", "EMAIL:{}", version="4.0")
    vcard = (
        good.format("one@example.com")
        + good.format("two@example.com").replace("VERSION:4.0", "VERSION:2.1")
        + good.format("three@example.com").replace("EMAIL:", "BDAY:--0101\r\nEMAIL:")
        + "some stray text\r\n"
        + good.format("four@example.com").replace("EMAIL:", "EMAIL;broken")
        + good.format("five@example.com").replace("N:Doe;Jane;;;\r\n", "")
        + good.format("six@example.com").replace(
            "VERSION:4.0", "VERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\r\nb"
        )
        + good.format("seven@example.com").replace("N:Doe;Jane;;;\r\nFN:Jane Doe\r\n", "")
        + good.format("eight@example.com").replace("END:VCARD\r\n", "")
    )
    report = import_file(client, ann, vcard)
    # Each card of one Jane Doe with its own email is a contact of its own; the one whose
    # email cannot be read has nothing to tell it from the others.
    assert report["created"] == 5
    assert report["skipped"] == [
        {
            "item": 5,
            "reason": "Same name and company as item 1 of this file, and no email or phone to "
            "tell them apart",
        }
    ]
    assert report["errors"] == [
        {"item": 4, "detail": "Not a complete vCard: text outside BEGIN:VCARD … END:VCARD"},
        {"item": 8, "detail": "no name (N, FN or ORG)"},
        {"item": 9, "detail": "Not a complete vCard: text outside BEGIN:VCARD … END:VCARD"},
    ]
    assert report["warnings"] == [
        {
            "item": 5,
            "detail": "the line 'EMAIL;brokenfour@example.com' left out: it is no vCard property",
        }
    ]
    assert {c["email"]: (c["notes"], c["birthday"]) for c in book(client, ann)} == {
        "five@example.com": (None, None),
        "one@example.com": (None, None),
        "six@example.com": ("ab", None),
        "three@example.com": (None, "--01-01"),
        "two@example.com": (None, None),
    }


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            "NOTE;CHARSET=no-such-set;QUOTED-PRINTABLE:caf=E9",
            "note (NOTE) 'NOTE;CHARSET=no-such-set;QUOTED-PRINTAB…' left out: "
            "its value is in an unknown character set 'no-such-set'",
        ),
        (
            "NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:caf=E9",
            "note (NOTE) 'NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRIN…' left out: its value is not "
            "UTF-8 text",
        ),
        (
            "NOTE;ENCODING=BASE64:not base64!",
            "note (NOTE) 'NOTE;ENCODING=BASE64:not base64!' left out: its value is not base64 data",
        ),
        (
            "TEL;CELL:n/a",
            "phone (TEL) 'n/a' left out: use digits with an optional leading +, the separators "
            "space - . ( ) /, * and #, and an extension such as x12",
        ),
        (
            "BDAY:sometime in May",
            "birthday (BDAY) 'sometime in May' left out: must be a date written YYYY-MM-DD, "
            "or --MM-DD without a year",
        ),
        (
            "BDAY:19900230",
            "birthday (BDAY) '1990-02-30' left out: 1990-02-30 is no date of the calendar",
        ),
        (
            "EMAIL:jane.example.com",
            "email (EMAIL) 'jane.example.com' left out: value is not a valid "
            "email address: An email address must have an @-sign.",
        ),
        (
            "URL:ftp://example.com",
            "website (URL) 'ftp://example.com' left out: must be an http or "
            "https URL, such as https://example.com",
        ),
    ],
)
def test_a_value_that_breaks_a_rule_is_a_warning_and_kept_as_its_line(
    client: TestClient, ann: Headers, line: str, detail: str
) -> None:
    report = import_file(
        client, ann, card("N:Doe;Jane", "EMAIL:jane@example.com", line, version="2.1")
    )
    assert report == {
        "created": 1,
        "skipped": [],
        "errors": [],
        "warnings": [{"item": 1, "detail": detail}],
    }
    # Written back as it came into the contact's vCards.
    assert f"\r\n{line}\r\n" in export(client, ann)


def test_a_uid_no_contact_can_keep_is_a_warning_and_the_contact_gets_a_new_one(
    client: TestClient, ann: Headers
) -> None:
    # A UID over the column's 255 characters reached the database: a 500.
    long_uid = "u" * 256
    report = import_file(
        client, ann, card(f"UID:{long_uid}", "N:Doe;Jane") + card("UID:u\x01", "N:Roe;Rob")
    )
    left_out = "uid (UID) {} left out: it {}; the contact has a new one"
    too_long = left_out.format(repr("u" * 39 + "…"), "is longer than 255 characters")
    control = left_out.format(repr("u\x01"), "must not contain control characters")
    assert report == {
        "created": 2,
        "skipped": [],
        "errors": [],
        "warnings": [{"item": 1, "detail": too_long}, {"item": 2, "detail": control}],
    }
    uids = [line for line in export(client, ann).split("\r\n") if line.startswith("UID:")]
    assert len(uids) == 2 and all(uid.startswith("UID:urn:uuid:") for uid in uids)


def test_a_vcard_that_is_not_utf8_and_names_no_charset_is_read_as_windows_1252(
    client: TestClient, ann: Headers
) -> None:
    # What Outlook and other Windows programs write without a CHARSET.
    vcard = card("N:M\xfcller;Jane", "NOTE:Caf\xe9 at 10", version="2.1").encode("latin-1")
    assert import_file(client, ann, vcard)["created"] == 1
    assert [(c["last_name"], c["notes"]) for c in book(client, ann)] == [("Müller", "Café at 10")]


def test_a_line_that_would_make_a_regular_expression_backtrack_is_read_at_once(
    client: TestClient,
) -> None:
    # vobject's own line pattern takes minutes on 130 bytes of this; a timeout here is the bug.
    vcard = card("FN:Jane Doe", "EMAIL" + ";a=b,c" * 20)
    with served_app({}) as server:
        ann = new_user(server, "ann@example.com")
        response = server.post(
            "/api/contacts/import",
            headers=ann,
            files={"file": ("c.vcf", vcard.encode())},
            timeout=10,
        )
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        {
            "item": 1,
            "detail": "the line 'EMAIL;a=b,c;a=b,c;a=b,c;a=b,c;a=b,c;a=b…' left out: "
            "it is no vCard property",
        }
    ]


def test_types_become_labels_and_the_preferred_entry_comes_first(
    client: TestClient, ann: Headers
) -> None:
    vcard = card(
        "N:Doe;John;Quincy;Dr.;",
        "FN:Dr. John Quincy Doe",
        "ORG:Example Corp;Research",
        "TITLE:Chemist",
        "EMAIL;type=INTERNET;type=WORK:john.work@example.com",
        "EMAIL;type=INTERNET;type=HOME;type=pref:John.Doe@Example.com",
        "TEL;type=HOME:555-000-1111",
        "TEL;type=CELL;type=VOICE;type=pref:+1 (555) 123-4567",
        "TEL;TYPE=WORK,FAX:555-000-2222",
        "item1.TEL:555-000-3333",
        "item1.X-ABLabel:_$!<Other>!$_",
        "item2.URL:https://example.com/john",
        "item2.X-ABLabel:Lab notes",
        "ADR;TYPE=WORK:;;1 Lab Way;Springfield;IL;62701;USA",
        "BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17",
        "CATEGORIES:Work,a\\, b",
        "X-FAVORITE:TRUE",
        "UID:john-1",
    )
    # An escaped comma is part of its value, and no label holds one: the line is kept.
    assert import_file(client, ann, vcard)["warnings"] == [
        {"item": 1, "detail": "category (CATEGORIES) 'a, b' left out: must not contain ',' or ';'"}
    ]
    [john] = book(client, ann)
    assert john == {
        "first_name": "John",
        "last_name": "Doe",
        "company": "Example Corp",
        "job_title": "Chemist",
        "email": "john.doe@example.com",
        "phone": "+1 (555) 123-4567",
        "emails": [
            {"address": "john.doe@example.com", "label": "home"},
            {"address": "john.work@example.com", "label": "work"},
        ],
        "phones": [
            {"number": "+1 (555) 123-4567", "label": "mobile"},
            {"number": "555-000-1111", "label": "home"},
            {"number": "555-000-2222", "label": "work fax"},
            {"number": "555-000-3333", "label": "other"},
        ],
        "addresses": [
            {
                "label": "work",
                "po_box": None,
                "extended": None,
                "street": "1 Lab Way",
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "country": "USA",
            }
        ],
        "websites": [{"url": "https://example.com/john", "label": "Lab notes"}],
        "birthday": "--05-17",
        "notes": None,
        "favorite": True,
        "labels": ["Work"],
    }
    # The additional name, the prefix and the department are kept, with the UID.
    cards = export(client, ann)
    for line in ("N:Doe;John;Quincy;Dr.;", "FN:Dr. John Quincy Doe", "ORG:Example Corp;Research",
                 "UID:john-1", "BDAY:--0517", "CATEGORIES:Work,a\\, b"):  # fmt: skip
        assert f"\r\n{line}\r\n" in cards


# --- Properties kept from a card -----------------------------------------------------------

KEPT_LINES = [
    "PHOTO;ENCODING=b;TYPE=JPEG:" + "QUJD" * 100,
    "NICKNAME:Janie",
    "IMPP;X-SERVICE-TYPE=Skype:skype:jane.doe",
    "X-SOCIALPROFILE;type=twitter:https://twitter.com/jane",
    "item7.X-CUSTOM:value;with\\, escapes",
]


def test_properties_no_field_holds_are_kept_and_written_back_through_put_patch_and_the_trash(
    client: TestClient, ann: Headers
) -> None:
    report = import_file(client, ann, card("N:Doe;Jane;;;", "UID:jane-uid", *KEPT_LINES))
    assert (report["created"], report["warnings"]) == (1, [])
    [contact] = client.get("/api/contacts", headers=ann).json()["items"]
    url = f"/api/contacts/{contact['id']}"
    client.put(url, headers=ann, json={"first_name": "Jane", "last_name": "Roe"})
    client.patch(url, headers=ann, json={"email": "jane@example.com"})
    client.delete(url, headers=ann)
    client.post(f"/api/contacts/trash/{contact['id']}/restore", headers=ann)
    cards = export(client, ann).replace("\r\n ", "")  # unfolded
    assert "N:Roe;Jane;;;\r\nFN:Jane Roe\r\n" in cards
    assert "UID:jane-uid\r\n" + "".join(f"{line}\r\n" for line in KEPT_LINES) + "END:VCARD" in cards


def test_kept_properties_over_1_mib_are_left_out_with_a_warning(
    client: TestClient, ann: Headers
) -> None:
    photo = "PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * 700_000
    report = import_file(
        client, ann, card("N:Doe;Jane;;;", photo, "NICKNAME:J", photo.replace("JPEG", "PNG"))
    )
    assert report["created"] == 1
    assert report["warnings"] == [
        {
            "item": 1,
            "detail": "PHOTO 'PHOTO;ENCODING=b;TYPE=PNG:AAAAAAAAAAAAA…' left out: "
            "the properties kept of one contact would pass 1 MiB",
        }
    ]
    cards = export(client, ann).replace("\r\n ", "")
    assert "TYPE=JPEG" in cards and "NICKNAME:J" in cards and "TYPE=PNG" not in cards


# --- Duplicates ----------------------------------------------------------------------------


def test_a_record_the_book_has_is_skipped_by_uid_or_names_and_an_email_or_phone(
    client: TestClient, ann: Headers
) -> None:
    import_file(client, ann, card("N:Doe;Jane;;;", "UID:jane-uid"))
    ann_lee = {
        "first_name": "Ann",
        "last_name": "Lee",
        "company": "Acme",
        "phone": "+1 555 010 0199",
    }
    client.post("/api/contacts", headers=ann, json=ann_lee)
    client.post("/api/contacts", headers=ann, json={"company": "Bakery"})
    vcard = (
        card("N:Other;Name;;;", "UID:jane-uid")  # 1: the same UID
        + card("N:LEE;ann;;;", "ORG:acme", "TEL:15550100199")  # 2: names and a phone's digits
        + card("N:Lee;Ann;;;", "ORG:Acme", "TEL:+1 555 010 0100")  # 3: another phone: new
        + card("N:Lee;Ann;;;", "TEL:+1 555 010 0199")  # 4: no company: new
        + card("ORG:Bakery", "FN:Bakery")  # 5: no email nor phone, same names and company
        + card("ORG:Bakery", "EMAIL:shop@example.com")  # 6: an email: new
        + card("ORG:Bakery", "EMAIL:SHOP@example.com")  # 7: as item 6
    )
    report = import_file(client, ann, vcard)
    assert report["created"] == 3
    SAME = "Same name and company as a contact in your address book, and"
    assert report["skipped"] == [
        {"item": 1, "reason": "Same UID as a contact in your address book"},
        {"item": 2, "reason": f"{SAME} a shared phone number"},
        {"item": 5, "reason": f"{SAME} no email or phone to tell them apart"},
        {"item": 7, "reason": "Same name and company as item 6 of this file, and a shared email"},
    ]  # fmt: skip
    again = import_file(client, ann, vcard)
    assert (again["created"], len(again["skipped"])) == (0, 7)


def test_an_import_does_not_look_at_other_users_books(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, bob, first_name="Shared", last_name="Friend", email="shared@example.com")
    csv = FIRST_MODEL_HEADER + "Shared,Friend,shared@example.com,5550100123,1990-01-01,\n"
    assert import_file(client, ann, csv)["created"] == 1
    assert len(book(client, bob)) == 1


def test_an_import_with_nothing_in_it_creates_nothing(client: TestClient, ann: Headers) -> None:
    assert import_file(client, ann, FIRST_MODEL_HEADER) == {
        "created": 0, "skipped": [], "errors": [], "warnings": [],
    }  # fmt: skip
    assert book(client, ann) == []


# --- Files that are not contact files ----------------------------------------------------

NOT_READ = (
    "Not a vCard file, nor a CSV file of Google Contacts, Outlook or this service (or the first "
    "model's, whose header names first_name or last_name and any of email,phone,birthday,notes,"
    "favorite,labels, each once)"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b" \r\n\n", "The file is empty"),
        (b"\xff\xfeB\x00E\x00", "The file is not UTF-8 text"),
        # Only Outlook's CSV is read in Windows-1252: it names no character set.
        (
            "First Name,Last Name,E-mail 1 - Value\nZoë,Smith,z@example.com\n".encode("latin-1"),
            "The file is not UTF-8 text",
        ),
        (b"PK\x03\x04\x00\x00", "The file is not text: it holds NUL characters"),
        (b"name,phone\nAnn,123\n", NOT_READ),
        (b"first_name,email,email,phone,birthday\n", NOT_READ),
        (b"email,phone\n", NOT_READ),
        (
            FIRST_MODEL_HEADER.encode() + b'Ann,"Smith"x,a@example.com,5550100123,1990-01-01,\n',
            "Not a readable CSV file (line 2): ',' expected after '\"'",
        ),
        (
            FIRST_MODEL_HEADER.encode() + b"a,b,c,d,e,f\n" * 20_001,
            "The file holds 20001 records, more than 20000: split it",
        ),
    ],
)
def test_a_file_that_is_not_a_contact_file_is_422(
    client: TestClient, ann: Headers, content: bytes, message: str
) -> None:
    response = upload(client, ann, content)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"type": "value_error", "loc": ["body", "file"], "msg": message}]
    }
    assert book(client, ann) == []


def test_an_import_without_a_file_field_is_422(client: TestClient, ann: Headers) -> None:
    response = client.post("/api/contacts/import", headers=ann, data={"other": "x"})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "file"]]


def test_an_import_may_pass_max_body_bytes_up_to_max_import_bytes(client: TestClient) -> None:
    row = "Ann,Smith{},ann{}@example.com,5550100123,1990-01-01,A note that makes it long\n"
    csv = FIRST_MODEL_HEADER + "".join(row.format(n, n) for n in range(15_000))
    assert 1_048_576 < len(csv) < 2_000_000
    with served_app({"MAX_IMPORT_BYTES": "2000000"}) as server:
        ann = new_user(server, "ann@example.com")
        assert upload(server, ann, csv).json()["created"] == 15_000
        too_large = upload(server, ann, csv + "x" * 1_000_000)
        other = server.post("/api/contacts", headers=ann, json={"first_name": "x" * 1_100_000})
    assert too_large.status_code == 413
    assert too_large.json() == {"detail": "Request body is larger than 2000000 bytes"}
    assert other.status_code == 413
    assert other.json() == {"detail": "Request body is larger than 1048576 bytes"}
