"""CardDAV's sync-collection (RFC 6578), raw, as DAVx5 and iOS use it: the book's sync-token
from a PROPFIND, a first sync with an empty token, a stored token that brings only the
changes (changed cards with their ETags, trashed and deleted ones as 404 members under the
name the device knows), a limit with a 507 and a token to continue, and tokens refused with
DAV:valid-sync-token."""

from datetime import UTC, datetime, timedelta
from typing import Any

from defusedxml import ElementTree
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.davhelp import CARD, DAV, book, propfind, props_body, report, responses, vcard
from tests.helpers import create_contact
from tests.test_dav import auth_of, error_element

Headers = dict[str, str]
TOKEN_PREFIX = "http://contacts-api/ns/sync/"


def sync_body(
    token: str = "", limit: int | str | None = None, props: str = "<d:getetag/>", level: str = "1"
) -> str:
    limit_xml = "" if limit is None else f"<d:limit><d:nresults>{limit}</d:nresults></d:limit>"
    return (
        '<d:sync-collection xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        f"<d:sync-token>{token}</d:sync-token><d:sync-level>{level}</d:sync-level>{limit_xml}"
        f"<d:prop>{props}</d:prop></d:sync-collection>"
    )


def sync(
    client: TestClient, path: str, auth: Any, token: str = "", **options: Any
) -> tuple[dict[str, Any], str]:
    """The members of a sync-collection's answer ({href: entry}) and its new token."""
    answer = report(client, path, auth, sync_body(token, **options))
    root = ElementTree.fromstring(answer.content)
    new_token = root.findtext(f"{DAV}sync-token")
    assert new_token, answer.text
    return responses(answer), new_token


def etags(members: dict[str, Any]) -> dict[str, Any]:
    """{href: the ETag of a changed card; None for one that left the book (a 404 member);
    the status of any other}."""
    found: dict[str, Any] = {}
    for href, entry in members.items():
        if entry["status"] is not None:
            found[href] = None if entry["status"] == 404 else entry["status"]
        else:
            found[href] = entry["props"][f"{DAV}getetag"].text
    return found


def put(client: TestClient, path: str, auth: Any, card: str) -> str:
    answer = client.put(
        path, auth=auth, content=card.encode(), headers={"Content-Type": "text/vcard"}
    )
    assert answer.status_code in (201, 204), answer.text
    # No ETag when the card is stored otherwise than sent: then the client fetches it.
    return str(answer.headers.get("etag") or client.get(path, auth=auth).headers["etag"])


def uid_of(sync_engine: Any, contact_id: int) -> str:
    with sync_engine.connect() as connection:
        found = connection.execute(
            text("SELECT uid FROM contacts WHERE id = :id"), {"id": contact_id}
        )
        return str(found.scalar_one())


def book_token(client: TestClient, path: str, auth: Any) -> str:
    entry = responses(propfind(client, path, auth, props_body("d:sync-token", "cs:getctag")))[path]
    return str(entry["props"][f"{DAV}sync-token"].text)


def test_a_first_sync_lists_every_card_and_a_stored_token_only_the_changes(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    first = put(client, path + "first.vcf", auth, vcard("uid-1", "Ann One"))
    second = put(client, path + "uid-2.vcf", auth, vcard("uid-2", "Ben Two"))
    rest = create_contact(client, ann, first_name="Rest")
    rest_href = path + uid_of(sync_engine, rest["id"]) + ".vcf"
    members, token = sync(client, path, auth)
    assert etags(members) == {
        path + "first.vcf": first,
        path + "uid-2.vcf": second,
        rest_href: f'"{rest["id"]}.1"',
    }
    assert token.startswith(TOKEN_PREFIX)
    # Nothing changed: no member, the same token.
    assert sync(client, path, auth, token) == ({}, token)

    # Changes on both sides: a card replaced over CardDAV, a contact edited and one trashed
    # over REST, a new card.
    changed = put(client, path + "first.vcf", auth, vcard("uid-1", "Ann Changed"))
    client.patch(f"/api/contacts/{rest['id']}", headers=ann, json={"notes": "x"})
    second_id = client.get("/api/contacts", headers=ann, params={"q": "Ben"}).json()["items"][0]
    client.delete(f"/api/contacts/{second_id['id']}", headers=ann)
    third = put(client, path + "third.vcf", auth, vcard("uid-3", "Cy Three"))
    members, later = sync(client, path, auth, token)
    assert etags(members) == {
        path + "first.vcf": changed,
        rest_href: f'"{rest["id"]}.2"',
        path + "uid-2.vcf": None,
        path + "third.vcf": third,
    }
    assert later != token

    # Deleting for good what the device heard of as deleted tells it nothing more; a card
    # deleted over CardDAV and then for good before the next sync is a 404 member under the
    # name its device chose.
    client.delete(f"/api/contacts/trash/{second_id['id']}", headers=ann)
    assert client.delete(path + "third.vcf", auth=auth).status_code == 204
    client.delete("/api/contacts/trash", headers=ann)
    members, _ = sync(client, path, auth, later)
    assert etags(members) == {path + "third.vcf": None}


def test_the_books_sync_token_moves_with_every_change_and_starts_a_sync(
    client: TestClient, ann: Headers
) -> None:
    # DAVx5's and iOS's round: PROPFIND the book's sync-token (and getctag), and only when it
    # differs from the stored one, a sync-collection from the stored token.
    auth = auth_of(client, ann)
    path = book(client, ann)
    put(client, path + "a.vcf", auth, vcard("uid-a", "Ann A"))
    stored = sync(client, path, auth)[1]
    assert book_token(client, path, auth) == stored
    etag = put(client, path + "a.vcf", auth, vcard("uid-a", "Ann Again"))
    moved = book_token(client, path, auth)
    assert moved != stored
    members, token = sync(client, path, auth, stored)
    assert (etags(members), token) == ({path + "a.vcf": etag}, moved)


def test_a_limit_gives_507_and_a_token_to_continue(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    tags = {
        path + f"c{n}.vcf": put(client, path + f"c{n}.vcf", auth, vcard(f"uid-{n}", f"Cy C{n}"))
        for n in range(5)
    }
    seen: dict[str, Any] = {}
    token, pages = "", []
    while True:
        members, token = sync(client, path, auth, token, limit=2)
        pages.append(etags(members))
        seen |= {href: tag for href, tag in etags(members).items() if href != path}
        if path not in members:
            break
    assert [len(page) for page in pages] == [3, 3, 1]  # two cards and the book's 507, twice
    assert all(page[path] == 507 for page in pages[:2])
    assert seen == tags
    assert sync(client, path, auth, token) == ({}, token)


def test_address_data_comes_with_the_changes_when_asked(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    card = vcard("uid-x", "Xia Xu", "TEL;TYPE=CELL:+1 555 010 0100")
    put(client, path + "x.vcf", auth, card)
    props = "<d:getetag/><card:address-data/>"
    members, _ = sync(client, path, auth, props=props)
    data = members[path + "x.vcf"]["props"][f"{CARD}address-data"].text
    # The card as GET serves it.
    assert data == client.get(path + "x.vcf", auth=auth).text
    assert "+1 555 010 0100" in data


def test_unknown_other_users_future_and_pruned_tokens_are_403_valid_sync_token(
    client: TestClient, ann: Headers, bob: Headers, trash_purger: Any
) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    put(client, path + "a.vcf", auth, vcard("uid-a", "Ann A"))
    token = sync(client, path, auth)[1]
    bobs = sync(client, book(client, bob), auth_of(client, bob, "bob@example.com"))[1]
    user = token.removeprefix(TOKEN_PREFIX).split("-")[0]
    for bad in (
        bobs,
        f"{TOKEN_PREFIX}{user}-99",
        token.removeprefix(TOKEN_PREFIX),  # the changes feed's form
        "http://example.com/sync/1",
        "garbage",
    ):
        answer = report(client, path, auth, sync_body(bad))
        assert answer.status_code == 403, bad
        assert error_element(answer) == f"{DAV}valid-sync-token"

    # A deletion forgotten after 31 days: a token from before it is refused, a later one holds.
    assert client.delete(path + "a.vcf", auth=auth).status_code == 204
    later = sync(client, path, auth, token)[1]
    now = datetime.now(UTC)
    trash_purger.clock = lambda: now + timedelta(days=32)
    assert client.portal.call(trash_purger.prune_once) == 1  # type: ignore[union-attr]
    answer = report(client, path, auth, sync_body(token))
    assert (answer.status_code, error_element(answer)) == (403, f"{DAV}valid-sync-token")
    assert sync(client, path, auth, later) == ({}, later)


def test_bad_levels_and_limits_are_refused(client: TestClient, ann: Headers) -> None:
    auth = auth_of(client, ann)
    path = book(client, ann)
    assert report(client, path, auth, sync_body(level="2")).status_code == 400
    for limit in ("0", "x", "-1"):
        answer = report(client, path, auth, sync_body(limit=limit))
        assert answer.status_code == 403, limit
        assert error_element(answer) == f"{DAV}number-of-matches-within-limits"
    # "infinite": a book holds no collections, so it means its cards, as 1 does.
    assert report(client, path, auth, sync_body(level="infinite")).status_code == 207


def test_another_users_book_is_404(client: TestClient, ann: Headers, bob: Headers) -> None:
    answer = report(client, book(client, bob), auth_of(client, ann), sync_body())
    assert answer.status_code == 404


def test_a_first_sync_with_address_data_reads_a_large_book_in_batches(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    from tests.davhelp import user_id
    from tests.test_changes_cost import fill_book

    fill_book(sync_engine, user_id(client, ann), 2_500)
    auth = auth_of(client, ann)
    path = book(client, ann)
    members, _ = sync(client, path, auth, props="<d:getetag/><card:address-data/>")
    assert len(members) == 2_500
    cards = [entry["props"][f"{CARD}address-data"].text for entry in members.values()]
    assert all(card.startswith("BEGIN:VCARD") and "FN:Bulk " in card for card in cards)
