"""What a second hostile review of the CardDAV server found, each a test written before its fix:
answers that grew without bound or stalled the server, cards that could not be reached or
were overwritten by another name, and preconditions read wrongly."""

from typing import Any

from defusedxml import ElementTree
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.davhelp import (
    CARD,
    DAV,
    basic_header,
    book,
    card_hrefs,
    multiget_body,
    propfind,
    props_body,
    report,
    responses,
    vcard,
)
from tests.helpers import race
from tests.test_dav import auth_of, error_element
from tests.test_dav_sync import sync, sync_body
from tests.test_import_export import import_file
from tests.test_service import alembic

Headers = dict[str, str]


def members(answer: Any) -> list[str]:
    """The hrefs of a multistatus, each as often as it is there."""
    root = ElementTree.fromstring(answer.content)
    return [item.findtext(f"{DAV}href") or "" for item in root.findall(f"{DAV}response")]


def test_a_multiget_answers_each_href_once(client: TestClient, ann: Headers) -> None:
    # 3,000 copies of one href of a 100 KB card made an answer of 331 MB.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("u-a")).status_code == 201
    hrefs = [path + "a.vcf"] * 500 + [path + "gone.vcf"] * 3 + ["http://[::1/x"]
    answer = report(client, path, auth, multiget_body(hrefs))
    assert members(answer) == [path + "a.vcf", path + "gone.vcf", "http://[::1/x"]
    found = responses(answer)
    assert [found[h]["status"] for h in found] == [None, 404, 404]


def test_a_multiget_answers_each_card_once_however_its_href_is_spelt(
    client: TestClient, ann: Headers
) -> None:
    # Told apart by their text, `a.vcf`, `%61.vcf` and a URL of it were each answered.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("u-a")).status_code == 201
    spellings = [path + "a.vcf", path + "%61.vcf", "http://x" + path + "a.vcf", path + "a.vcf?x"]
    answer = report(client, path, auth, multiget_body(spellings * 100))
    assert members(answer) == [path + "a.vcf"]
    too_many = [path + f"{n}.vcf" for n in range(1001)]
    answer = report(client, path, auth, multiget_body(too_many))
    assert answer.status_code == 400
    assert answer.json() == {"detail": "A multiget names at most 1000 cards; ask in batches"}
    assert members(report(client, path, auth, multiget_body(too_many[:1000])))[:1] == [
        path + "0.vcf"
    ]


def test_a_card_with_a_name_a_new_card_may_not_take_can_still_be_replaced(
    client: TestClient, ann: Headers
) -> None:
    # An imported card of a 255-character UID lives at a 259-character name: PUT refused it.
    auth = auth_of(client, ann)
    path = book(client, ann)
    uid = "u" * 255
    assert import_file(client, ann, vcard(uid, "Ann Lee"))["created"] == 1
    href = path + uid + ".vcf"
    answer = client.put(href, auth=auth, content=vcard(uid, "Ann Smith"))
    assert answer.status_code == 204
    assert "FN:Ann Smith" in client.get(href, auth=auth).text
    answer = client.put(href, auth=auth, content=vcard("another", "Ann Smith"))
    assert answer.status_code == 403
    assert error_element(answer) == f"{DAV}name-allowed"
    answer = client.put(path + "v" * 256 + ".vcf", auth=auth, content=vcard("v"))
    assert answer.status_code == 403


def test_listings_write_what_is_asked_of_each_card(client: TestClient, ann: Headers) -> None:
    # The straight-out listing and the general one, each property as `answer` would write it.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("u-a")).status_code == 201
    got = client.get(path + "a.vcf", auth=auth)
    asked = ("d:getetag", "d:getcontenttype", "d:resourcetype", "d:getlastmodified")
    found = responses(propfind(client, path, auth, props_body(*asked), depth="1"))
    props = found[path + "a.vcf"]["props"]
    assert props[f"{DAV}getetag"].text == got.headers["etag"]
    assert props[f"{DAV}getcontenttype"].text == "text/vcard; charset=utf-8"
    assert list(props[f"{DAV}resourcetype"]) == []
    assert props[f"{DAV}getlastmodified"].text == got.headers["last-modified"]
    mixed = responses(
        propfind(client, path, auth, props_body("d:getetag", "d:displayname"), depth="1")
    )
    assert mixed[path + "a.vcf"]["props"][f"{DAV}getetag"].text == got.headers["etag"]
    assert mixed[path + "a.vcf"]["missing"] == [f"{DAV}displayname"]
    length = responses(propfind(client, path, auth, props_body("d:getcontentlength"), depth="1"))
    assert length[path + "a.vcf"]["props"][f"{DAV}getcontentlength"].text == str(len(got.content))
    empty = '<d:propfind xmlns:d="DAV:"><d:prop/></d:propfind>'
    nothing = responses(propfind(client, path, auth, empty, depth="1"))[path + "a.vcf"]
    assert nothing == {"status": None, "props": {}, "missing": []}


def query_of(text_matches: int) -> str:
    matches = "".join(f"<card:text-match>zz{n}</card:text-match>" for n in range(text_matches))
    return (
        '<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        '<d:prop><d:getetag/></d:prop><card:filter><card:prop-filter name="FN">'
        f"{matches}</card:prop-filter></card:filter></card:addressbook-query>"
    )


def test_a_query_of_too_many_conditions_is_refused(client: TestClient, ann: Headers) -> None:
    # 2,000 text-matches over 5,000 cards held the event loop for 17 s.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "a.vcf", auth=auth, content=vcard("u-a")).status_code == 201
    answer = report(client, path, auth, query_of(49))  # with its prop-filter: 50 elements
    assert answer.status_code == 207
    assert members(answer) == []
    answer = report(client, path, auth, query_of(50))
    assert answer.status_code == 403
    assert error_element(answer) == f"{CARD}supported-filter"


def test_a_card_whose_uid_holds_a_slash_can_be_fetched(client: TestClient, ann: Headers) -> None:
    # Listed at `{uid}.vcf` with the slash as %2F, which the server decodes: never fetched.
    auth = auth_of(client, ann)
    path = book(client, ann)
    cards = vcard("http://example.com/people/7", "Ann Lee")
    assert import_file(client, ann, cards)["created"] == 1
    [href] = list(card_hrefs(client, path, auth))
    assert href.startswith(path + "urn:uuid:") and href.endswith(".vcf")
    got = client.get(href, auth=auth)
    assert got.status_code == 200
    assert "UID:http://example.com/people/7" in got.text
    found = responses(report(client, path, auth, multiget_body([href])))
    assert found[href]["status"] is None


def test_migration_0016_names_the_cards_of_slashed_uids(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert import_file(client, ann, vcard("plain-uid", "Ann Lee"))["created"] == 1
    assert alembic("downgrade", "0015").returncode == 0
    sync_engine.dispose()
    with sync_engine.begin() as connection:  # what an import before 0016 wrote
        connection.execute(text("UPDATE contacts SET uid = 'a/b', dav_name = NULL"))
    up = alembic("upgrade", "head")
    assert up.returncode == 0, up.stderr
    sync_engine.dispose()
    [href] = list(card_hrefs(client, path, auth))
    assert href.startswith(path + "urn:uuid:")
    assert "UID:a/b" in client.get(href, auth=auth).text


def test_a_name_left_and_taken_again_is_one_member_of_a_sync(
    client: TestClient, ann: Headers
) -> None:
    # Both the card that left and the one that took its name were members, 404 and 200.
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert client.put(path + "reuse.vcf", auth=auth, content=vcard("r1")).status_code == 201
    _, token = sync(client, path, auth)
    assert client.delete(path + "reuse.vcf", auth=auth).status_code == 204
    made = client.put(
        path + "reuse.vcf", auth=auth, content=vcard("r2"), headers={"If-None-Match": "*"}
    )
    assert made.status_code == 201
    assert members(report(client, path, auth, sync_body(token))) == [path + "reuse.vcf"]
    changed, _ = sync(client, path, auth, token)
    assert changed[path + "reuse.vcf"]["status"] is None
    etag = changed[path + "reuse.vcf"]["props"][f"{DAV}getetag"].text
    assert etag == client.get(path + "reuse.vcf", auth=auth).headers["etag"]


def test_names_that_are_no_names_are_refused(client: TestClient, ann: Headers) -> None:
    # `%FE.vcf` and `%FF.vcf` both decoded to U+FFFD.vcf: one card, each PUT replacing it.
    auth = auth_of(client, ann)
    path = book(client, ann)
    for name in ("%FE.vcf", "%FF.vcf", "%2E%2E", "%2E"):
        answer = client.put(path + name, auth=auth, content=vcard(f"u-{name}"))
        assert answer.status_code == 403, name
        assert error_element(answer) == f"{DAV}name-allowed"
    assert card_hrefs(client, path, auth) == {}


def test_if_none_match_with_the_current_etag_is_412(client: TestClient, ann: Headers) -> None:
    # Only `*` was read: a PUT with the card's own ETag replaced it.
    auth = auth_of(client, ann)
    path = book(client, ann) + "a.vcf"
    client.put(path, auth=auth, content=vcard("u-a", "Ann Lee"))
    tag = client.get(path, auth=auth).headers["etag"]
    changed = vcard("u-a", "Ann Smith").encode()
    for header in (tag, f'"0.0", {tag}', f"W/{tag}"):
        answer = client.put(path, auth=auth, content=changed, headers={"If-None-Match": header})
        assert answer.status_code == 412, header
    assert "FN:Ann Lee" in client.get(path, auth=auth).text
    answer = client.put(path, auth=auth, content=changed, headers={"If-None-Match": '"0.0"'})
    assert answer.status_code == 204
    assert "FN:Ann Smith" in client.get(path, auth=auth).text


def test_puts_of_one_new_name_at_once_create_it_once_and_replace_it(
    client: TestClient, ann: Headers
) -> None:
    # Without a precondition a PUT creates or replaces: the losers of the race got 412.
    auth = auth_of(client, ann)
    path = book(client, ann)
    basic = basic_header(auth)
    for round_ in range(3):
        href = path + f"race-{round_}.vcf"
        card = vcard(f"race-{round_}").encode()
        codes = race(client, [("PUT", href, basic, card) for _ in range(5)])
        assert sorted(codes) == [201, 204, 204, 204, 204], codes
    assert sorted(card_hrefs(client, path, auth)) == [path + f"race-{n}.vcf" for n in range(3)]


def test_a_depth_that_is_no_depth_is_400(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    for depth in ("2", "-1", "1,1"):
        answer = propfind(client, path, auth, props_body("d:getetag"), depth=depth)
        assert answer.status_code == 400, depth
        assert answer.json() == {"detail": "Depth is 0, 1 or infinity"}
    answer = propfind(client, path, auth, props_body("d:getetag"), depth="infinity")
    assert answer.status_code == 403
    assert error_element(answer) == f"{DAV}propfind-finite-depth"


def test_a_property_in_the_xml_namespace_is_answered_well_formed(
    client: TestClient, ann: Headers
) -> None:
    # `xmlns:x="http://www.w3.org/XML/1998/namespace"` is no well-formed XML.
    auth = auth_of(client, ann)
    path = book(client, ann)
    body = '<d:propfind xmlns:d="DAV:"><d:prop><xml:lang/><d:displayname/></d:prop></d:propfind>'
    found = responses(propfind(client, path, auth, body))
    assert found[path]["missing"] == ["{http://www.w3.org/XML/1998/namespace}lang"]
    assert found[path]["props"][f"{DAV}displayname"].text == "Contacts"
