"""The CardDAV paths and their methods: discovery, PROPFIND, REPORT, GET, PUT, DELETE.

Thin: the XML is dav/xml.py's, the properties dav/props.py's, the queries dav/cards.py's,
PUT dav/put.py's.
Each path takes every method in one route and answers those it does not serve itself (405,
or 403 for the book's MKCOL and its kind): WebDAV's methods are not FastAPI's usual ones, and
none of these routes is in the OpenAPI document (docs/sync.md describes them).
"""

from collections.abc import Awaitable, Callable

from anyio import to_thread
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse

from contacts_api.contact_writes import trash_contact
from contacts_api.dav.answers import forbidden, multistatus_answer
from contacts_api.dav.auth import DavSession, DavUser, DavUserInfo
from contacts_api.dav.cards import (
    book_path,
    card_listing,
    card_named,
    card_path,
    every_card,
    home_path,
    principal_path,
)
from contacts_api.dav.props import (
    CONTENT_TYPE,
    LISTED,
    Props,
    answer,
    book_props,
    card_entity_props,
    card_props,
    context_props,
    home_props,
    http_date,
    listed_cards,
    principal_props,
    vcard_text,
)
from contacts_api.dav.put import put_card
from contacts_api.dav.reports import REPORTS, ReportRequest, run_report
from contacts_api.dav.sync import book_sync_token
from contacts_api.dav.xml import (
    CS,
    DAV,
    parse,
    requested_props,
    response,
    tag,
)
from contacts_api.deps import if_none_match_holds
from contacts_api.errors import AppError
from contacts_api.formats.vcard_write import Version
from contacts_api.models import Contact, etag

router = APIRouter(include_in_schema=False)

# Every method a client may send to a DAV path; OPTIONS has routes of its own, with no sign-in.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PROPFIND", "PROPPATCH", "REPORT",
           "MKCOL", "MKCALENDAR", "COPY", "MOVE", "LOCK", "UNLOCK", "ACL", "SEARCH"]  # fmt: skip
DAV_HEADER = {"DAV": "1, 3, addressbook"}
COLLECTION_METHODS = "OPTIONS, PROPFIND"
BOOK_METHODS = "OPTIONS, PROPFIND, REPORT"
CARD_METHODS = "OPTIONS, PROPFIND, GET, HEAD, PUT, DELETE"
# What a book refuses with 403: each user has exactly one, as with Google's CardDAV.
BOOK_REFUSED = {"MKCOL", "MKCALENDAR", "COPY", "MOVE", "LOCK", "UNLOCK", "PROPPATCH", "ACL"}


def not_allowed(allowed: str) -> Response:
    return Response(status_code=status.HTTP_405_METHOD_NOT_ALLOWED, headers={"Allow": allowed})


def not_found() -> Response:
    return Response(status_code=status.HTTP_404_NOT_FOUND)


# --- Discovery -------------------------------------------------------------------------------


@router.api_route("/.well-known/carddav", methods=[*METHODS, "OPTIONS"])
async def find_carddav() -> Response:
    """RFC 6764 §5: where the CardDAV service is (any method)."""
    return RedirectResponse("/dav/", status.HTTP_301_MOVED_PERMANENTLY)


DAV_PATHS = {
    "context": ["/dav", "/dav/"],
    "principal": ["/dav/principals/{user_id:id}", "/dav/principals/{user_id:id}/"],
    "home": ["/dav/addressbooks/{user_id:id}", "/dav/addressbooks/{user_id:id}/"],
    "book": ["/dav/addressbooks/{user_id:id}/contacts", "/dav/addressbooks/{user_id:id}/contacts/"],
    "card": ["/dav/addressbooks/{user_id:id}/contacts/{name}"],
}  # fmt: skip
ALLOWED = {"context": COLLECTION_METHODS, "principal": COLLECTION_METHODS,
           "home": COLLECTION_METHODS, "book": BOOK_METHODS, "card": CARD_METHODS}  # fmt: skip


def _options(allowed: str) -> Callable[[], Awaitable[Response]]:
    async def options() -> Response:
        return Response(headers=DAV_HEADER | {"Allow": allowed})

    return options


for kind, paths in DAV_PATHS.items():
    for path in paths:
        router.add_api_route(path, _options(ALLOWED[kind]), methods=["OPTIONS"])


# --- PROPFIND --------------------------------------------------------------------------------


Requested = list[str] | None


async def propfind(
    request: Request,
    own: tuple[str, Props] | Callable[[Requested], Awaitable[tuple[str, Props]]],
    children: Callable[[Requested], Awaitable[list[str]]] | None = None,
) -> Response:
    """PROPFIND of a resource (`own`: its path and properties, or what makes them from the
    names asked for) and, with Depth 1, of its `children` (their responses, written from the
    names asked for). Depth infinity is refused (RFC 4918 §9.1), any other than 0 and 1 is a
    400 (§10.2); no Depth is read as 0."""
    depth = request.headers.get("depth", "0").strip().lower()
    if depth == "infinity":
        return forbidden(tag(DAV, "propfind-finite-depth"))
    if depth not in ("0", "1"):
        raise AppError(status.HTTP_400_BAD_REQUEST, "Depth is 0, 1 or infinity")
    root = parse(await request.body())
    if root is not None and root.tag != tag(DAV, "propfind"):
        raise AppError(status.HTTP_400_BAD_REQUEST, "The body of a PROPFIND is a DAV:propfind")
    requested = requested_props(root)
    path, props = own if isinstance(own, tuple) else await own(requested)
    responses = [response(path, answer(requested, props))]
    if depth == "1" and children is not None:
        responses += await children(requested)
    return multistatus_answer(responses)


def refuse(request: Request, kind: str) -> Response:
    if kind == "book" and request.method in BOOK_REFUSED:
        return forbidden(tag(DAV, "need-privileges"))
    return not_allowed(ALLOWED[kind])


@router.api_route("/dav", methods=METHODS)
@router.api_route("/dav/", methods=METHODS)
async def serve_context(request: Request, user: DavUser) -> Response:
    """The context path: where a client learns its principal."""
    if request.method != "PROPFIND":
        return refuse(request, "context")
    return await propfind(request, ("/dav/", context_props(user)))


@router.api_route(DAV_PATHS["principal"][0], methods=METHODS)
@router.api_route(DAV_PATHS["principal"][1], methods=METHODS)
async def serve_principal(request: Request, user_id: int, user: DavUser) -> Response:
    """The user: their address-book home."""
    if user_id != user.id:
        return not_found()
    if request.method != "PROPFIND":
        return refuse(request, "principal")
    return await propfind(request, (principal_path(user.id), principal_props(user)))


@router.api_route(DAV_PATHS["home"][0], methods=METHODS)
@router.api_route(DAV_PATHS["home"][1], methods=METHODS)
async def serve_home(
    request: Request, user_id: int, user: DavUser, session: DavSession
) -> Response:
    """The home: exactly one address book."""
    if user_id != user.id:
        return not_found()
    if request.method != "PROPFIND":
        return refuse(request, "home")

    async def book(requested: Requested) -> list[str]:
        props = await the_book_props(session, user, requested)
        return [response(book_path(user.id), answer(requested, props))]

    return await propfind(request, (home_path(user.id), home_props(user)), book)


async def the_book_props(session: DavSession, user: DavUserInfo, requested: Requested) -> Props:
    # CalendarServer's getctag is the sync-token: both change exactly when a card of the book
    # does, and the change log gives it in time proportional to the changes (a hash of an
    # aggregate over the book's rows took 72 to 137 ms at 100,000 cards, in the PROPFIND that
    # DAVx5 and iOS send before every sync). Only when asked for: reading it numbers the
    # pending changes, a write (a listing of the cards does not ask).
    wanted = (tag(CS, "getctag"), tag(DAV, "sync-token"))
    if requested is not None and not any(name in requested for name in wanted):
        return book_props(user, None, list(REPORTS))
    token = await book_sync_token(session, user.id)
    return book_props(user, token, list(REPORTS), token)


@router.api_route(DAV_PATHS["book"][0], methods=METHODS)
@router.api_route(DAV_PATHS["book"][1], methods=METHODS)
async def serve_book(
    request: Request, user_id: int, user: DavUser, session: DavSession
) -> Response:
    """The book: its properties and its cards (PROPFIND), and the reports over them."""
    if user_id != user.id:
        return not_found()
    if request.method == "REPORT":
        root = parse(await request.body())
        if root is None:
            raise AppError(status.HTTP_400_BAD_REQUEST, "A REPORT needs a body")
        return await run_report(ReportRequest(session, user, root))
    if request.method != "PROPFIND":
        return refuse(request, "book")

    async def cards(requested: Requested) -> list[str]:
        if requested and set(requested) <= set(LISTED):
            # What clients ask of every card (getetag, most often alone): written straight out.
            dated = tag(DAV, "getlastmodified") in requested
            return listed_cards(user.id, await card_listing(session, user.id, dated), requested)
        if requested is None or tag(DAV, "getcontentlength") in requested:
            # Each card's length: each card written (kept for the multiget that follows), in a
            # thread: 0.7 to 1.3 s for 10,000 cards, which would stall every other request.
            every = await every_card(session, user.id)
            return await to_thread.run_sync(
                lambda: [
                    response(card_path(user.id, name), answer(requested, card_entity_props(card)))
                    for card, name in every
                ]
            )
        rows = await card_listing(session, user.id)
        return [
            response(
                card_path(user.id, row.name),
                answer(requested, card_props(etag(row), row.updated_at, None)),
            )
            for row in rows
        ]

    async def own(requested: Requested) -> tuple[str, Props]:
        return book_path(user.id), await the_book_props(session, user, requested)

    return await propfind(request, own, cards)


# --- One card --------------------------------------------------------------------------------


@router.api_route(DAV_PATHS["card"][0], methods=METHODS)
async def serve_card(
    request: Request, user_id: int, name: str, user: DavUser, session: DavSession
) -> Response:
    """One card: read (PROPFIND, GET, HEAD), write (PUT), move to the trash (DELETE)."""
    if user_id != user.id:
        return not_found()
    if request.method == "PUT":
        return await put_card(request, user, name, session)
    if request.method not in ("PROPFIND", "GET", "HEAD", "DELETE"):
        return not_allowed(CARD_METHODS)
    contact = await card_named(session, user.id, name)
    if contact is None:
        return not_found()
    if request.method == "PROPFIND":
        return await propfind(request, (card_path(user.id, name), card_entity_props(contact)))
    if request.method == "DELETE":
        return await delete_card(request, contact, session)
    return get_card(request, contact)


def get_card(request: Request, contact: Contact) -> Response:
    """The card as vCard 3.0, or 4.0 when `Accept` asks for it."""
    tag_ = etag(contact)
    headers = {"ETag": tag_, "Last-Modified": http_date(contact.updated_at)}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match_holds(if_none_match, tag_):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    accept = request.headers.get("accept", "").replace(" ", "")
    version: Version = "4.0" if "version=4.0" in accept else "3.0"
    body = vcard_text(contact, version).encode()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=status.HTTP_200_OK, headers=headers, media_type=CONTENT_TYPE)
    return Response(body, headers=headers, media_type=CONTENT_TYPE)


async def delete_card(request: Request, contact: Contact, session: DavSession) -> Response:
    """Into the trash, as DELETE of the REST routes (the same function): `If-Match` holds or
    412; 404 when another request trashed it first."""
    await trash_contact(session, contact, request.headers.get("if-match"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
