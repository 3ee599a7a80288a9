"""REPORT: one handler per report element, in `REPORTS`.

A report the book answers is a key of `REPORTS`; the book's `supported-report-set` lists
exactly those, and any other report is 403 with `DAV:supported-report` (RFC 3253 §3.6).
Adding one is one function and one entry (sync-collection's lives in dav/sync.py).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from anyio import to_thread
from fastapi import Response, status
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.dav.answers import forbidden, multistatus_answer
from contacts_api.dav.auth import DavUserInfo
from contacts_api.dav.cards import book_path, card_heads, card_path, contacts_by_id, every_card
from contacts_api.dav.props import (
    answer,
    card_key,
    card_report_props,
    kept_card,
    written_card,
)
from contacts_api.dav.sync import sync_changes
from contacts_api.dav.xml import (
    CARD,
    DAV,
    NRESULTS,
    STATUS_LINES,
    address_data_version,
    escape,
    href,
    requested_props,
    response,
    status_response,
    tag,
)
from contacts_api.errors import AppError
from contacts_api.formats.vcard_read import written_full_name
from contacts_api.models import etag


@dataclass
class ReportRequest:
    session: AsyncSession
    user: DavUserInfo
    root: Element


Handler = Callable[[ReportRequest], Awaitable[Response]]


# --- addressbook-multiget (RFC 6352 §8.7) ----------------------------------------------------


# The most hrefs one multiget may name: clients ask for 10 to 100 at a time.
MAX_MULTIGET_HREFS = 1000


def card_name(text: str, user_id: int) -> str | None:
    """The card name of an href (a path or a URL) in the user's book, else None."""
    book = book_path(user_id)
    path = text.strip()
    if path.startswith(book):
        path = path.split("?", 1)[0].split("#", 1)[0]  # as urlsplit would
    else:  # a URL, or a path to elsewhere
        try:
            path = urlsplit(path).path
        except ValueError:  # no URL (`http://[::1`)
            return None
    if "%" in path:
        path = unquote(path)
    if not path.startswith(book):
        return None
    name = path[len(book) :]
    return name if name and "/" not in name else None


async def multiget(report: ReportRequest) -> Response:
    """The cards named by their hrefs, each with the properties asked for (a card not in the
    book: a 404 response of its own). The cards whose text is kept are not read again."""
    requested = requested_props(report.root)
    version = address_data_version(report.root)
    asked = list(
        dict.fromkeys((h.text or "").strip() for h in report.root.findall(tag(DAV, "href")))
    )
    if len(asked) > MAX_MULTIGET_HREFS:
        raise AppError(
            status.HTTP_400_BAD_REQUEST,
            f"A multiget names at most {MAX_MULTIGET_HREFS} cards; ask in batches",
        )
    # Each card once (RFC 4918 §14.24), under the first href that names it, however it is
    # spelt (`a.vcf`, `%61.vcf`, a URL): 3,000 copies of one href of a 100 KB card made an
    # answer of 331 MB.
    names: dict[str, str | None] = {}
    seen: set[str] = set()
    for text in asked:
        name = card_name(text, report.user.id)
        if name not in seen:
            names[text] = name
            if name is not None:
                seen.add(name)
    hrefs = list(names)
    heads = await card_heads(
        report.session, report.user.id, [name for name in names.values() if name]
    )
    kept = {head.id: kept_card(card_key(head, version)) for head in heads.values()}
    read = await contacts_by_id(report.session, [id_ for id_, card in kept.items() if not card])
    plain = requested == [tag(DAV, "getetag"), tag(CARD, "address-data")]
    responses = []
    for text in hrefs:
        name = names[text]
        head = heads.get(name) if name else None
        card = None if head is None else kept[head.id]
        if card is None and head is not None and head.id in read:
            card = written_card(read[head.id], version)
        if head is None or card is None:
            responses.append(status_response(text, 404))  # gone since the heads
            continue
        if plain:
            # What DAVx5, Thunderbird, iOS and vdirsyncer ask: written straight out (a
            # tenth of the time per card that the general path takes).
            responses.append(
                f"<d:response>{href(text)}<d:propstat><d:prop>"
                f"<d:getetag>{escape(etag(head))}</d:getetag>"
                f"<card:address-data>{card[1]}</card:address-data>"
                f"</d:prop><d:status>{STATUS_LINES[200]}</d:status></d:propstat></d:response>"
            )
            continue
        props = card_report_props(etag(head), head.updated_at, lambda card=card: card)  # type: ignore[misc]
        responses.append(response(text, answer(requested, props)))
    return multistatus_answer(responses)


# --- addressbook-query (RFC 6352 §8.6) -------------------------------------------------------


def _values(contact: Any, name: str) -> list[str] | None:
    """The values of a card's property as a text-match compares them; None: not supported."""
    if name == "FN":
        names = {key: getattr(contact, key) for key in ("first_name", "last_name", "company")}
        return [written_full_name(names)]
    if name == "N":
        return [" ".join(part for part in (contact.last_name, contact.first_name) if part)]
    if name == "EMAIL":
        return [email["address"] for email in contact.emails]
    if name == "TEL":
        return [phone["number"] for phone in contact.phones]
    if name == "ORG":
        return [contact.company] if contact.company else []
    return None


MATCHES: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda value, text: value == text,
    "contains": lambda value, text: text in value,
    "starts-with": lambda value, text: value.startswith(text),
    "ends-with": lambda value, text: value.endswith(text),
}


class UnsupportedFilter(Exception):
    pass


def _text_matches(values: list[str], match: Element) -> bool:
    how = match.get("match-type", "contains")
    if how not in MATCHES:
        raise UnsupportedFilter
    # i;unicode-casemap, the default collation (RFC 4790): case aside; i;octet: exactly.
    exact = match.get("collation") == "i;octet"
    text = match.text or ""
    text = text if exact else text.casefold()
    found = any(MATCHES[how](value if exact else value.casefold(), text) for value in values)
    return found != (match.get("negate-condition") == "yes")


def _prop_filter_holds(contact: Any, prop_filter: Element) -> bool:
    values = _values(contact, (prop_filter.get("name") or "").upper())
    if values is None:
        raise UnsupportedFilter
    if prop_filter.find(tag(CARD, "is-not-defined")) is not None:
        return not values
    matches = prop_filter.findall(tag(CARD, "text-match"))
    if not matches:
        return bool(values)
    results = [_text_matches(values, match) for match in matches]
    return all(results) if prop_filter.get("test") == "allof" else any(results)


def _filter_holds(contact: Any, card_filter: Element | None) -> bool:
    if card_filter is None:
        return True
    prop_filters = card_filter.findall(tag(CARD, "prop-filter"))
    if not prop_filters:
        return True
    results = [_prop_filter_holds(contact, prop_filter) for prop_filter in prop_filters]
    return all(results) if card_filter.get("test") == "allof" else any(results)


# The most elements a query's filter may hold (prop-filters, text-matches, ...): clients send
# one to a few; 2,000 text-matches over 5,000 cards took 17 s of CPU.
MAX_FILTER_ELEMENTS = 50


async def query(report: ReportRequest) -> Response:
    """The cards whose FN, N, EMAIL, TEL or ORG match the filter, at most `limit` of them
    (then a 507 for the book, as RFC 6352 §8.6.1 says)."""
    requested = requested_props(report.root)
    version = address_data_version(report.root)
    card_filter = report.root.find(tag(CARD, "filter"))
    limit = None
    nresults = report.root.find(f"{tag(CARD, 'limit')}/{tag(CARD, 'nresults')}")
    if nresults is not None:
        if not NRESULTS.fullmatch(nresults.text or ""):
            return forbidden(tag(CARD, "supported-filter"))
        limit = int(nresults.text or "0")
    if card_filter is not None and len(card_filter.findall(".//*")) > MAX_FILTER_ELEMENTS:
        return forbidden(tag(CARD, "supported-filter"))
    responses: list[str] = []
    user_id = report.user.id
    cards = await every_card(report.session, user_id)
    try:
        # In a thread: a filter of many matches over a large book is seconds of CPU, which on
        # the event loop would stall every other request.
        matching = await to_thread.run_sync(
            lambda: [
                (contact, name) for contact, name in cards if _filter_holds(contact, card_filter)
            ]
        )
    except UnsupportedFilter:
        return forbidden(tag(CARD, "supported-filter"))
    for contact, name in matching:
        if limit is not None and len(responses) >= limit:
            responses.append(
                response(book_path(user_id), f"<d:status>{STATUS_LINES[507]}</d:status>")
            )
            break
        card = partial(written_card, contact, version)
        props = card_report_props(etag(contact), contact.updated_at, card)
        responses.append(response(card_path(user_id, name), answer(requested, props)))
    return multistatus_answer(responses)


# --- sync-collection (RFC 6578) --------------------------------------------------------------


async def sync_collection(report: ReportRequest) -> Response:
    """What changed since the client's token, from the change log (dav/sync.py)."""
    return await sync_changes(report.session, report.user, report.root)


# The reports the book answers, by their element.
REPORTS: dict[str, Handler] = {
    tag(CARD, "addressbook-multiget"): multiget,
    tag(CARD, "addressbook-query"): query,
    tag(DAV, "sync-collection"): sync_collection,
}


async def run_report(report: ReportRequest) -> Response:
    handler = REPORTS.get(report.root.tag)
    if handler is None:
        return forbidden(tag(DAV, "supported-report"))
    return await handler(report)
