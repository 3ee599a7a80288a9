"""CardDAV over the app in process: discovery, properties, cards read and written with the
REST routes' ETags, reports, and what the book refuses. Sign-in is in test_dav_auth.py,
hostile XML in test_dav_xml.py, real clients in test_dav_clients.py."""

from typing import Any

from fastapi.testclient import TestClient

from tests.davhelp import (
    CARD,
    CS,
    DAV,
    app_password,
    book,
    card_hrefs,
    multiget_body,
    propfind,
    props_body,
    report,
    responses,
    unfolded,
    user_id,
    vcard,
)
from tests.helpers import contact_data, new_user

Headers = dict[str, str]
XML_403 = "urn:ietf:params:xml:ns:carddav"


def auth_of(client: TestClient, headers: Headers, email: str = "ann@example.com") -> Any:
    return (email, app_password(client, headers))


def error_element(answer: Any) -> str:
    from defusedxml import ElementTree

    root = ElementTree.fromstring(answer.content)
    assert root.tag == f"{DAV}error"
    [condition] = list(root)
    return str(condition.tag)


# --- Discovery -------------------------------------------------------------------------------


def test_well_known_sends_every_method_to_the_context_path(client: TestClient) -> None:
    for method in ("GET", "PROPFIND", "OPTIONS", "HEAD"):
        answer = client.request(method, "/.well-known/carddav", follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (301, "/dav/"), method


def test_discovery_leads_from_the_context_path_to_the_book(
    client: TestClient, ann: Headers
) -> None:
    auth = auth_of(client, ann)
    me = user_id(client, ann)
    body = props_body("d:current-user-principal")
    [(href, context)] = responses(propfind(client, "/dav/", auth, body)).items()
    principal = context["props"][f"{DAV}current-user-principal"].findtext(f"{DAV}href")
    assert (href, principal) == ("/dav/", f"/dav/principals/{me}/")
    body = props_body("card:addressbook-home-set", "d:displayname", "d:principal-URL")
    found = responses(propfind(client, principal, auth, body))[principal]["props"]
    home = found[f"{CARD}addressbook-home-set"].findtext(f"{DAV}href")
    assert home == f"/dav/addressbooks/{me}/"
    assert found[f"{DAV}displayname"].text == "ann@example.com"
    listing = responses(propfind(client, home, auth, props_body("d:resourcetype"), depth="1"))
    assert list(listing) == [home, f"/dav/addressbooks/{me}/contacts/"]
    kinds = [child.tag for child in listing[book(client, ann)]["props"][f"{DAV}resourcetype"]]
    assert kinds == [f"{DAV}collection", f"{CARD}addressbook"]


def test_options_says_what_each_path_serves_without_a_sign_in(
    client: TestClient, ann: Headers
) -> None:
    path = book(client, ann)
    answer = client.options(path)
    assert answer.status_code == 200
    assert answer.headers["dav"] == "1, 3, addressbook"
    assert answer.headers["allow"] == "OPTIONS, PROPFIND, REPORT"
    assert client.options(path + "x.vcf").headers["allow"] == (
        "OPTIONS, PROPFIND, GET, HEAD, PUT, DELETE"
    )


def test_the_books_properties(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    body = props_body(
        "d:displayname", "cs:getctag", "d:supported-report-set", "card:supported-address-data",
        "card:max-resource-size", "d:current-user-privilege-set", "d:owner", "d:sync-token",
        "d:quota-used-bytes",
    )  # fmt: skip
    entry = responses(propfind(client, path, auth, body))[path]
    found = entry["props"]
    assert found[f"{DAV}displayname"].text == "Contacts"
    reports = [r[0][0].tag for r in found[f"{DAV}supported-report-set"]]
    assert reports == [
        f"{CARD}addressbook-multiget",
        f"{CARD}addressbook-query",
        f"{DAV}sync-collection",
    ]
    versions = [t.get("version") for t in found[f"{CARD}supported-address-data"]]
    assert versions == ["3.0", "4.0"]
    assert found[f"{CARD}max-resource-size"].text == "1048576"
    privileges = [p[0].tag for p in found[f"{DAV}current-user-privilege-set"]]
    assert f"{DAV}write-content" in privileges and f"{DAV}bind" in privileges
    assert found[f"{DAV}owner"].findtext(f"{DAV}href") == f"/dav/principals/{user_id(client, ann)}/"
    token = f"http://contacts-api/ns/sync/{user_id(client, ann)}-0"
    # getctag is the sync-token: both change exactly when a card does.
    assert found[f"{DAV}sync-token"].text == found[f"{CS}getctag"].text == token
    # Unknown properties are 404.
    assert entry["missing"] == [f"{DAV}quota-used-bytes"]


def test_depth_infinity_is_refused(client: TestClient, ann: Headers) -> None:
    answer = propfind(client, book(client, ann), auth_of(client, ann), depth="infinity")
    assert answer.status_code == 403
    assert error_element(answer) == f"{DAV}propfind-finite-depth"


def test_another_users_paths_do_not_exist(client: TestClient, ann: Headers) -> None:
    client.post("/api/contacts", headers=ann, json=contact_data())
    ann_book = book(client, ann)
    [card] = card_hrefs(client, ann_book, auth_of(client, ann))
    bob = new_user(client, "bob@example.com")
    bob_auth = auth_of(client, bob, "bob@example.com")
    me = user_id(client, ann)
    for path in (f"/dav/principals/{me}/", f"/dav/addressbooks/{me}/", ann_book, card):
        assert propfind(client, path, bob_auth).status_code == 404, path
    assert client.get(card, auth=bob_auth).status_code == 404
    assert client.put(card, auth=bob_auth, content=vcard("x")).status_code == 404
    assert client.delete(card, auth=bob_auth).status_code == 404
    assert report(client, ann_book, bob_auth, multiget_body([card])).status_code == 404


# --- Cards and the REST routes -----------------------------------------------------------------


def test_a_contact_made_through_rest_is_a_card_with_the_same_etag(
    client: TestClient, ann: Headers
) -> None:
    made = client.post("/api/contacts", headers=ann, json=contact_data())
    auth = auth_of(client, ann)
    uid_href = book(client, ann) + "urn:uuid:"
    [(href, tag)] = card_hrefs(client, book(client, ann), auth).items()
    assert href.startswith(uid_href) and href.endswith(".vcf")
    assert tag == made.headers["etag"]
    answer = client.get(href, auth=auth)
    assert answer.status_code == 200
    assert answer.headers["etag"] == made.headers["etag"]
    assert answer.headers["content-type"] == "text/vcard; charset=utf-8"
    lines = unfolded(answer.text)
    assert lines[:4] == ["BEGIN:VCARD", "VERSION:3.0", "N:Jones;Carol;;;", "FN:Carol Jones"]
    assert "EMAIL;TYPE=pref:carol@example.com" in lines
    four = client.get(href, auth=auth, headers={"Accept": "text/vcard; version=4.0"})
    assert unfolded(four.text)[1] == "VERSION:4.0"
    cached = client.get(href, auth=auth, headers={"If-None-Match": tag})
    assert (cached.status_code, cached.content) == (304, b"")
    head = client.head(href, auth=auth)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(answer.content))


def test_put_creates_and_replaces_with_the_preconditions(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann) + "Bob-1.vcf"
    card = vcard("bob-uid", "Bob Smith", "EMAIL;TYPE=WORK:bob@example.com")
    made = client.put(path, auth=auth, content=card, headers={"If-None-Match": "*"})
    assert made.status_code == 201
    again = client.put(path, auth=auth, content=card, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    [contact] = client.get("/api/contacts", headers=ann).json()["items"]
    assert (contact["first_name"], contact["last_name"]) == ("Bob", "Smith")
    assert contact["emails"] == [{"address": "bob@example.com", "label": "work"}]
    rest = client.get(f"/api/contacts/{contact['id']}", headers=ann)
    # Stored otherwise than sent (TYPE=WORK is written TYPE=work): no ETag, the client fetches.
    assert "etag" not in made.headers
    assert rest.headers["etag"] == client.get(path, auth=auth).headers["etag"]
    stale = client.put(path, auth=auth, content=card, headers={"If-Match": '"1.99"'})
    assert stale.status_code == 412
    changed = vcard("bob-uid", "Robert Smith")
    replaced = client.put(
        path, auth=auth, content=changed, headers={"If-Match": rest.headers["etag"]}
    )
    assert replaced.status_code == 204
    assert replaced.headers["etag"] != rest.headers["etag"]
    rest = client.get(f"/api/contacts/{contact['id']}", headers=ann)
    assert rest.json()["first_name"] == "Robert" and rest.json()["emails"] == []
    assert rest.headers["etag"] == replaced.headers["etag"]
    # The name the device chose stays the card's name, not its UID.
    assert list(card_hrefs(client, book(client, ann), auth)) == [path]
    missing = book(client, ann) + "nobody.vcf"
    assert (
        client.put(missing, auth=auth, content=card, headers={"If-Match": "*"}).status_code == 412
    )


def test_a_card_comes_back_as_the_device_sent_it(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann) + "odd.vcf"
    # Values that break a field's rule, and properties no field holds: kept as they came.
    extras = ("EMAIL:not an email", "NICKNAME:Bobby", "X-CUSTOM;X-PARAM=1:anything",
              "BDAY:yesterday")  # fmt: skip
    card = vcard("odd-uid", "Bob Smith", "TEL;TYPE=CELL:+1 555 0100", *extras)
    assert client.put(path, auth=auth, content=card).status_code == 201
    lines = unfolded(client.get(path, auth=auth).text)
    for line in extras:
        assert line in lines, (line, lines)
    assert "TEL;TYPE=cell,pref:+1 555 0100" in lines
    [contact] = client.get("/api/contacts", headers=ann).json()["items"]
    assert contact["emails"] == [] and contact["birthday"] is None
    assert contact["phones"] == [{"number": "+1 555 0100", "label": "mobile"}]


def test_put_refuses_what_is_no_card(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann) + "x.vcf"
    nameless = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:n\r\nEMAIL:a@b.c\r\nEND:VCARD\r\n"
    for body in (nameless, "hello", b"\xff\xfe".decode("latin-1")):
        answer = client.put(path, auth=auth, content=body)
        assert answer.status_code == 403, body
        assert error_element(answer) == f"{CARD}valid-address-data"
    typed = client.put(path, auth=auth, content="{}", headers={"Content-Type": "application/json"})
    assert typed.status_code == 415
    big = vcard("big", "Bob Smith", "NOTE:" + "x" * 1_048_576)
    answer = client.put(path, auth=auth, content=big)
    assert answer.status_code == 403
    assert error_element(answer) == f"{CARD}max-resource-size"
    assert client.get("/api/contacts", headers=ann).json()["total"] == 0


def test_a_second_card_with_one_uid_is_refused(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    assert (
        client.put(book(client, ann) + "a.vcf", auth=auth, content=vcard("same")).status_code == 201
    )
    answer = client.put(book(client, ann) + "b.vcf", auth=auth, content=vcard("same"))
    assert answer.status_code == 403
    assert error_element(answer) == f"{CARD}no-uid-conflict"


def test_delete_moves_the_card_to_the_trash(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann) + "bob.vcf"
    made = client.put(path, auth=auth, content=vcard("bob"))
    assert client.delete(path, auth=auth, headers={"If-Match": '"9.9"'}).status_code == 412
    assert (
        client.delete(path, auth=auth, headers={"If-Match": made.headers["etag"]}).status_code
        == 204
    )
    assert client.get(path, auth=auth).status_code == 404
    assert client.delete(path, auth=auth).status_code == 404
    [trashed] = client.get("/api/contacts/trash", headers=ann).json()["items"]
    restored = client.post(f"/api/contacts/trash/{trashed['id']}/restore", headers=ann)
    assert restored.status_code == 200
    assert client.get(path, auth=auth).headers["etag"] == restored.headers["etag"]


def test_a_rest_change_shows_in_the_card_and_the_ctag(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)

    def ctag() -> str:
        found = responses(propfind(client, path, auth, props_body("cs:getctag")))
        return str(found[path]["props"][f"{CS}getctag"].text)

    tags = [ctag()]
    made = client.post("/api/contacts", headers=ann, json=contact_data()).json()
    tags.append(ctag())
    client.patch(f"/api/contacts/{made['id']}", headers=ann, json={"first_name": "Caroline"})
    tags.append(ctag())
    [href] = card_hrefs(client, path, auth)
    assert "FN:Caroline Jones" in unfolded(client.get(href, auth=auth).text)
    client.delete(f"/api/contacts/{made['id']}", headers=ann)
    tags.append(ctag())
    client.post(f"/api/contacts/trash/{made['id']}/restore", headers=ann)
    tags.append(ctag())
    assert len(set(tags)) == 5
    assert tags[-1] == ctag()


# --- Reports ---------------------------------------------------------------------------------


def test_multiget_answers_each_href_found_or_not(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    client.put(path + "a.vcf", auth=auth, content=vcard("a", "Ann Alpha"))
    client.put(path + "b.vcf", auth=auth, content=vcard("b", "Bob Beta"))
    hrefs = [path + "b.vcf", path + "gone.vcf", path + "a.vcf", "/elsewhere/a.vcf"]
    found = responses(report(client, path, auth, multiget_body(hrefs)))
    assert list(found) == hrefs
    assert [found[h]["status"] for h in hrefs] == [None, 404, None, 404]
    data = found[path + "b.vcf"]["props"][f"{CARD}address-data"].text
    assert "FN:Bob Beta" in data and "VERSION:3.0" in data
    four = responses(report(client, path, auth, multiget_body([path + "a.vcf"], "4.0")))
    assert "VERSION:4.0" in four[path + "a.vcf"]["props"][f"{CARD}address-data"].text
    # An href as a URL, or with its characters percent-encoded, names the same card, answered
    # under the href it was asked as.
    other_forms = ["http://example.com" + path + "a.vcf", path + "%61.vcf", path + "a.vcf%2F"]
    for form, status in zip(other_forms, [None, None, 404], strict=True):
        found = responses(report(client, path, auth, multiget_body([form])))
        assert list(found) == [form]
        assert found[form]["status"] == status
        if status is None:
            assert "FN:Ann Alpha" in found[form]["props"][f"{CARD}address-data"].text
    # A card written once is kept, until the contact changes: then the new one.
    [bob] = client.get("/api/contacts?q=bob", headers=ann).json()["items"]
    client.patch(f"/api/contacts/{bob['id']}", headers=ann, json={"first_name": "Robert"})
    again = responses(report(client, path, auth, multiget_body([path + "b.vcf"])))
    assert "FN:Robert Beta" in again[path + "b.vcf"]["props"][f"{CARD}address-data"].text


def query_body(filters: str, test: str = "anyof", limit: int | None = None) -> str:
    limit_xml = f"<card:limit><card:nresults>{limit}</card:nresults></card:limit>" if limit else ""
    return (
        '<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        f'<d:prop><d:getetag/></d:prop><card:filter test="{test}">{filters}</card:filter>'
        f"{limit_xml}</card:addressbook-query>"
    )


def text_match(name: str, text: str, how: str = "contains") -> str:
    return (
        f'<card:prop-filter name="{name}"><card:text-match match-type="{how}">{text}'
        "</card:text-match></card:prop-filter>"
    )


def test_query_matches_names_emails_phones_and_companies(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    client.put(path + "a.vcf", auth=auth, content=vcard("a", "Ann Alpha", "EMAIL:ann@work.example",
                                                       "ORG:Acme"))  # fmt: skip
    client.put(path + "b.vcf", auth=auth, content=vcard("b", "Bob Beta", "TEL:+1 555 0100"))

    def names(body: str) -> list[str]:
        return sorted(
            href.rsplit("/", 1)[1] for href in responses(report(client, path, auth, body))
        )

    assert names(query_body(text_match("EMAIL", "WORK.example"))) == ["a.vcf"]
    assert names(query_body(text_match("TEL", "0100"))) == ["b.vcf"]
    assert names(query_body(text_match("FN", "bob", "starts-with"))) == ["b.vcf"]
    assert names(query_body(text_match("ORG", "acme", "equals"))) == ["a.vcf"]
    both = text_match("N", "alpha") + text_match("N", "beta")
    assert names(query_body(both)) == ["a.vcf", "b.vcf"]
    assert names(query_body(both, test="allof")) == []
    limited = responses(report(client, path, auth, query_body(both, limit=1)))
    assert [entry["status"] for entry in limited.values()] == [None, 507]
    answer = report(client, path, auth, query_body(text_match("GEO", "x")))
    assert answer.status_code == 403
    assert error_element(answer) == f"{CARD}supported-filter"


# --- What the book refuses ---------------------------------------------------------------------


def test_one_book_each_no_mkcol_move_or_proppatch(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    for method in ("MKCOL", "COPY", "MOVE", "LOCK", "PROPPATCH"):
        assert client.request(method, path, auth=auth).status_code == 403, method
    home = path.removesuffix("contacts/")
    answer = client.request("MKCOL", home + "another/", auth=auth)
    assert answer.status_code in (403, 404, 405)
    answer = client.request("POST", path + "a.vcf", auth=auth)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "OPTIONS, PROPFIND, GET, HEAD, PUT, DELETE"
