"""What a hostile review of the CardDAV server found, each a test written before its fix:
a card of 20,000 values, credentials and bodies that are not what they claim, answers that
must stay well-formed XML, and a UID that one card may not take from another."""

from typing import Any

from defusedxml import ElementTree
from fastapi.testclient import TestClient

from contacts_api.dav.xml import MAX_PROPS
from tests.davhelp import (
    CARD,
    DAV,
    app_password,
    basic_header,
    book,
    multiget_body,
    propfind,
    props_body,
    report,
    responses,
    unfolded,
    vcard,
)
from tests.helpers import race

Headers = dict[str, str]


def auth_of(client: TestClient, headers: Headers) -> Any:
    return ("ann@example.com", app_password(client, headers))


def test_a_card_of_twenty_thousand_emails_is_kept_whole(client: TestClient, ann: Headers) -> None:
    # Sorting the kept properties compared them field by field: 84 s for this card, with
    # every other request of the service waiting.
    auth = auth_of(client, ann)
    emails = [f"EMAIL:person{i}@example.org" for i in range(20_000)]
    path = book(client, ann) + "many.vcf"
    assert (
        client.put(path, auth=auth, content=vcard("many", "Many Mails", *emails)).status_code == 201
    )
    lines = unfolded(client.get(path, auth=auth).text)
    sent_back = [line.split(":", 1)[1] for line in lines if line.startswith("EMAIL")]
    assert sent_back == [email.split(":", 1)[1] for email in emails]
    [contact] = client.get("/api/contacts", headers=ann).json()["items"]
    assert contact["email"] == "person0@example.org"


def test_credentials_that_are_not_ascii_are_a_401(client: TestClient, ann: Headers) -> None:
    answer = client.request(
        "PROPFIND", "/dav/", headers={b"Authorization": b"Basic \xe9\xe9"}, content=b""
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="contacts_api", charset="UTF-8"'


def test_an_unknown_encoding_is_a_400(client: TestClient, ann: Headers) -> None:
    body = (
        b'<?xml version="1.0" encoding="x-nope"?>'
        b'<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>'
    )
    answer = client.request("PROPFIND", book(client, ann), auth=auth_of(client, ann), content=body)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("The XML body could not be read: ")


def test_odd_property_names_get_a_well_formed_answer(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    body = (
        '<d:propfind xmlns:d="DAV:"><d:prop><foo/><x:bar xmlns:x="a&quot;b"/><d:displayname/>'
        "</d:prop></d:propfind>"
    )
    answer = propfind(client, book(client, ann), auth, body)
    assert answer.status_code == 207
    root = ElementTree.fromstring(answer.content)  # raises on an answer that is not XML
    missing = root.findall(f".//{DAV}propstat/{DAV}prop/*")
    assert sorted(str(element.tag) for element in missing) == [
        "foo",
        "{DAV:}displayname",
        '{a"b}bar',
    ]


def test_a_property_asked_for_many_times_is_answered_once(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("a")).status_code == 201
    answer = propfind(client, path, auth, props_body(*["d:getetag"] * 5_000), depth="1")
    assert answer.status_code == 207
    assert answer.text.count("<d:getetag>") == 1  # the card's; the book has none (a 404)
    many = props_body(*[f"d:p{i}" for i in range(MAX_PROPS + 1)])
    refused = propfind(client, path, auth, many, depth="1")
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        f"The XML body could not be read: it asks for more than {MAX_PROPS} properties"
    )


def test_a_replacing_put_may_not_take_another_cards_uid(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert (
        client.put(path + "ann.vcf", auth=auth, content=vcard("u-1", "Ann Lee")).status_code == 201
    )
    assert client.put(path + "bob.vcf", auth=auth, content=vcard("u-2")).status_code == 201
    answer = client.put(path + "bob.vcf", auth=auth, content=vcard("u-1", "Bob Smith"))
    assert answer.status_code == 403
    [condition] = list(ElementTree.fromstring(answer.content))
    assert condition.tag == f"{CARD}no-uid-conflict"
    assert "UID:u-2" in unfolded(client.get(path + "bob.vcf", auth=auth).text)


def test_two_cards_given_one_new_uid_at_once_are_not_both_taken(
    client: TestClient, ann: Headers
) -> None:
    # Each replacing PUT looked for the UID, then wrote: both found it free.
    auth = auth_of(client, ann)
    path = book(client, ann)
    basic = basic_header(auth)
    for round_ in range(5):
        names = [f"r{round_}-{n}.vcf" for n in range(3)]
        for n, name in enumerate(names):
            answer = client.put(path + name, auth=auth, content=vcard(f"r{round_}-{n}"))
            assert answer.status_code == 201
        new_uid = vcard(f"taken-{round_}").encode()
        codes = race(client, [("PUT", path + name, basic, new_uid) for name in names])
        assert sorted(codes) == [204, 403, 403], codes
        uids = [unfolded(client.get(path + name, auth=auth).text) for name in names]
        assert sum(f"UID:taken-{round_}" in card for card in uids) == 1


def test_a_nul_in_a_card_name_is_no_card_not_a_500(client: TestClient, ann: Headers) -> None:
    # PostgreSQL's text holds no NUL: the name went to the query as it came.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("u-a")).status_code == 201
    hrefs = [path + "a%00.vcf", path + "a.vcf"]
    found = responses(report(client, path, auth, multiget_body(hrefs)))
    assert [found[h]["status"] for h in hrefs] == [404, None]
    for method in ("GET", "HEAD", "DELETE", "PROPFIND"):
        assert client.request(method, path + "a%00.vcf", auth=auth).status_code == 404, method
    answer = client.put(path + "b%00.vcf", auth=auth, content=vcard("u-b"))
    assert answer.status_code == 403
    assert card_hrefs(client, path, auth) == [path, path + "a.vcf"]


def test_a_card_the_book_cannot_keep_as_sent_is_refused_not_a_500(
    client: TestClient, ann: Headers
) -> None:
    # A UID over the column's 255 characters, and a NUL anywhere, reached the database.
    auth = auth_of(client, ann)
    path = book(client, ann)
    uid_problem = "The card's UID cannot be kept: "
    refused = {
        "long.vcf": (vcard("u" * 256), uid_problem + "it is longer than 255 characters"),
        "control.vcf": (vcard("u\x01"), uid_problem + "it must not contain control characters"),
        "nul.vcf": (
            vcard("u-n", "Bob Smith", "NOTE:a\x00b"),
            "The card is not text: it holds NUL characters",
        ),
    }
    for name, (card, problem) in refused.items():
        answer = client.put(path + name, auth=auth, content=card.encode())
        assert answer.status_code == 403, name
        [condition] = list(ElementTree.fromstring(answer.content))
        assert condition.tag == f"{CARD}valid-address-data"
        assert answer.headers["x-problem"] == problem
    answer = client.put(path + "fits.vcf", auth=auth, content=vcard("u" * 255))
    assert answer.status_code == 201
    assert card_hrefs(client, path, auth) == [path, path + "fits.vcf"]


def card_hrefs(client: TestClient, path: str, auth: Any) -> list[str]:
    answer = propfind(client, path, auth, props_body("d:getetag"), depth="1")
    return sorted(responses(answer))


def test_a_restore_never_gives_two_cards_one_address(client: TestClient, ann: Headers) -> None:
    # The first card of r.vcf was trashed and another made at r.vcf with its UID: restored,
    # the first took both back, and the listing had /r.vcf twice.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert (
        client.put(path + "r.vcf", auth=auth, content=vcard("r-1", "Original R")).status_code == 201
    )
    [first] = client.get("/api/contacts", headers=ann).json()["items"]
    assert client.delete(path + "r.vcf", auth=auth).status_code == 204
    again = client.put(
        path + "r.vcf",
        auth=auth,
        content=vcard("r-1", "Second R"),
        headers={"If-None-Match": "*"},
    )
    assert again.status_code == 201
    restored = client.post(f"/api/contacts/trash/{first['id']}/restore", headers=ann)
    assert restored.status_code == 200
    hrefs = card_hrefs(client, path, auth)
    assert len(hrefs) == 3 and hrefs[0] == path  # the book, and two cards of two names
    assert path + "r.vcf" in hrefs
    [other] = [href for href in hrefs if href not in (path, path + "r.vcf")]
    assert other.startswith(path + "urn:uuid:") and other.endswith(".vcf")
    assert "FN:Second R" in unfolded(client.get(path + "r.vcf", auth=auth).text)
    moved = unfolded(client.get(other, auth=auth).text)
    assert "FN:Original R" in moved
    assert f"UID:{other.removeprefix(path).removesuffix('.vcf')}" in moved


def test_an_import_never_gives_two_cards_one_address(client: TestClient, ann: Headers) -> None:
    # foo.vcf holds the card of UID bar; a card of UID foo, imported, was at foo.vcf too.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert (
        client.put(path + "foo.vcf", auth=auth, content=vcard("bar", "Bar One")).status_code == 201
    )
    body = vcard("foo", "Foo Two").encode()
    imported = client.post("/api/contacts/import", headers=ann, files={"file": ("foo.vcf", body)})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 1
    assert imported.json()["warnings"] == [
        {"item": 1, "detail": "UID foo replaced: foo.vcf is another card's CardDAV address"}
    ]
    hrefs = card_hrefs(client, path, auth)
    assert len(hrefs) == 3 and hrefs[0] == path
    [other] = [href for href in hrefs if href not in (path, path + "foo.vcf")]
    assert other.startswith(path + "urn:uuid:")
    assert "FN:Bar One" in unfolded(client.get(path + "foo.vcf", auth=auth).text)
    assert "FN:Foo Two" in unfolded(client.get(other, auth=auth).text)


def test_categories_that_make_no_label_are_kept(client: TestClient, ann: Headers) -> None:
    # Past the 20th, over 50 characters, or with an escaped comma (which no label may hold,
    # and which was split into two labels): left out of the labels, and lost with them.
    auth = auth_of(client, ann)
    path = book(client, ann)
    many = "CATEGORIES:" + ",".join(f"c{i}" for i in range(300))
    long = "CATEGORIES:Friends," + "x" * 51
    comma = "CATEGORIES:a\\, b"
    for name, line in (("many", many), ("long", long), ("comma", comma)):
        sent = vcard(name, f"{name.title()} Person", line)
        assert client.put(f"{path}{name}.vcf", auth=auth, content=sent).status_code == 201
        assert line in unfolded(client.get(f"{path}{name}.vcf", auth=auth).text)
    by_first = {
        contact["first_name"]: contact["labels"]
        for contact in client.get("/api/contacts", headers=ann).json()["items"]
    }
    twenty = sorted(f"c{i}" for i in range(20))  # the first 20, in the order of names
    assert by_first == {"Many": twenty, "Long": ["Friends"], "Comma": []}
    report = client.post(
        "/api/contacts/import",
        headers=ann,
        files={"file": ("c.vcf", vcard("c-2", "Comma Again", comma).encode())},
    ).json()
    assert report["created"] == 1
    assert report["warnings"] == [
        {
            "item": 1,
            "detail": "category (CATEGORIES) 'a, b' left out: must not contain ',' or ';'",
        }
    ]


def test_a_windows_1252_card_is_taken_as_the_import_takes_it(
    client: TestClient, ann: Headers
) -> None:
    # Outlook's vCard 2.1, in the Windows code page: the import read it, a PUT refused it.
    auth = auth_of(client, ann)
    path = book(client, ann) + "outlook.vcf"
    lines = ["BEGIN:VCARD", "VERSION:2.1", "N;CHARSET=Windows-1252:Müller;Jürgen;;;",
             "FN;CHARSET=Windows-1252:Jürgen Müller", "NOTE:Grüße", "UID:w-1252",
             "END:VCARD"]  # fmt: skip
    body = ("\r\n".join(lines) + "\r\n").encode("windows-1252")
    assert client.put(path, auth=auth, content=body).status_code == 201
    sent_back = unfolded(client.get(path, auth=auth).text)
    assert "FN:Jürgen Müller" in sent_back
    assert "NOTE:Grüße" in sent_back
    [contact] = client.get("/api/contacts", headers=ann).json()["items"]
    assert (contact["first_name"], contact["last_name"]) == ("Jürgen", "Müller")


def test_put_gives_an_etag_only_for_a_card_stored_as_sent(client: TestClient, ann: Headers) -> None:
    # RFC 6352 §6.3.2.3: no strong ETag for a card that the server stores otherwise, so that
    # the client fetches what is stored.
    auth = auth_of(client, ann)
    path = book(client, ann) + "e.vcf"
    sent = vcard("e-1", "Eve Lee", "EMAIL;TYPE=INTERNET,HOME:eve@example.com")
    made = client.put(path, auth=auth, content=sent)
    assert made.status_code == 201
    assert "etag" not in made.headers
    stored = client.get(path, auth=auth)
    assert "EMAIL;TYPE=home,pref:eve@example.com" in unfolded(stored.text)
    # The card as stored, sent back with other line ends and folding: the same card.
    again = stored.text.replace("\r\n", "\n").replace("eve@", "eve\n @")
    same = client.put(path, auth=auth, content=again, headers={"If-Match": stored.headers["etag"]})
    assert same.status_code == 204
    assert same.headers["etag"] == client.get(path, auth=auth).headers["etag"]
    four = client.get(path, auth=auth, headers={"Accept": "text/vcard; version=4.0"}).text
    assert (
        client.put(path, auth=auth, content=four).headers["etag"]
        == (client.get(path, auth=auth).headers["etag"])
    )


def test_concurrent_app_passwords_never_pass_fifty(client: TestClient, ann: Headers) -> None:
    # Each create counted, then inserted: two at once both found 49, and made 51.
    passwords = "/api/users/me/app-passwords"
    for round_ in range(5):
        listed = client.get(passwords, headers=ann).json()
        for extra in listed[48:]:
            assert client.delete(f"{passwords}/{extra['id']}", headers=ann).status_code == 204
        for n in range(len(listed), 48):
            app_password(client, ann, f"device {n}")
        calls = [("POST", passwords, ann, {"name": f"r{round_}.{n}"}) for n in range(4)]
        codes = race(client, calls)
        assert sorted(codes) == [201, 201, 409, 409], codes
        assert len(client.get(passwords, headers=ann).json()) == 50
