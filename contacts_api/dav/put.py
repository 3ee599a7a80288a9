"""Writing a card: PUT creates or replaces a contact, read as an import reads a card.

The same contacts, versions and ETags as the REST routes (contact_writes.py writes both). A
PUT takes the book's lock before it looks at names and UIDs, so that two writes at once never
give one name or one UID to two cards.
"""

import re

from anyio import to_thread
from fastapi import Request, Response, status
from pydantic import ValidationError

from contacts_api.contact_writes import add_contact, lock_book, write_contact
from contacts_api.dav.answers import forbidden
from contacts_api.dav.auth import DavSession, DavUserInfo
from contacts_api.dav.cards import (
    MAX_NAME_LENGTH,
    card_named,
    card_path,
    name_for,
    uid_in_use,
)
from contacts_api.dav.props import MAX_CARD_BYTES, vcard_text
from contacts_api.dav.xml import CARD, DAV, tag
from contacts_api.deps import if_none_match_holds
from contacts_api.formats import CardRead, NotAContactFile, read_card_data
from contacts_api.formats.vcard_write import Version
from contacts_api.models import Contact, ContactCreate, etag, new_uid, no_control_characters

VCARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory")


def invalid_card(problem: str) -> Response:
    answer_ = forbidden(tag(CARD, "valid-address-data"))
    answer_.headers["X-Problem"] = problem[:200].encode("ascii", "replace").decode()
    return answer_


async def put_card(request: Request, user: DavUserInfo, name: str, session: DavSession) -> Response:
    """Create or replace a card, read as an import reads it (every field, every kept
    property), with a value that breaks a field's rule kept as it came (formats.read_card_data).
    `If-None-Match: *` only creates, `If-Match` only replaces; 201 or 204, with the ETag
    when the card is stored as it came (etag_if_same)."""
    body = await request.body()
    if len(body) > MAX_CARD_BYTES:
        return forbidden(tag(CARD, "max-resource-size"))
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type not in VCARD_TYPES:
        return Response(status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    try:
        # In a thread: a card of 1 MiB may hold 30,000 values to check (about 1 s of CPU),
        # which on the event loop would stall every other request.
        # Not UTF-8: read as the import reads Outlook's Windows-1252 vCards.
        card = await to_thread.run_sync(read_card_data, body)
        contact_in = ContactCreate.model_validate(card.fields)
    except NotAContactFile as exc:
        return invalid_card(str(exc))
    except ValidationError as exc:
        return invalid_card(str(exc.errors()[0]["msg"]))
    if card.uid_problem:
        # A device keeps the UID it sent: one the book cannot keep is refused, not replaced.
        return invalid_card(f"The card's UID cannot be kept: {card.uid_problem}")
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    # One write of a book's cards at a time (the user's row locked, as an import does), so
    # that two PUTs of one new name, or two cards given one UID, cannot both pass their check.
    await lock_book(session, user.id)
    existing = await card_named(session, user.id, name)
    if existing is None:
        if if_match is not None:
            return await precondition_failed(session)
        if not name_allowed(name):
            await session.rollback()
            return forbidden(tag(DAV, "name-allowed"))
        return await create_card(session, user, name, card, contact_in, body)
    if if_none_match is not None and (
        if_none_match.strip() == "*" or if_none_match_holds(if_none_match, etag(existing))
    ):
        return await precondition_failed(session)
    uid = card.uid or existing.uid
    if uid != existing.uid and not name_allowed(name):
        # The card keeps its name, which the new UID no longer gives: it would be stored, and
        # this one may not be.
        await session.rollback()
        return forbidden(tag(DAV, "name-allowed"))
    if uid != existing.uid and await uid_in_use(session, user.id, uid, other_than=existing.id):
        await session.rollback()
        return forbidden(tag(CARD, "no-uid-conflict"))
    changes = contact_in.columns() | {
        "uid": uid,
        "kept_properties": card.kept,
        "dav_name": name_for(uid, name),
    }
    written = await write_contact(session, existing, lambda _: changes, contact_in.labels, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=etag_if_same(written, body))


def name_allowed(name: str) -> bool:
    """Whether a new card may take this name. A card the book has keeps its own (an imported
    one is `{UID}.vcf`, which may be longer)."""
    if len(name) > MAX_NAME_LENGTH or name in (".", "..") or "\ufffd" in name:
        # `..` would name the home for a client that resolves it; U+FFFD is what a name that
        # is not UTF-8 decodes to, so `%FE.vcf` and `%FF.vcf` would be one card.
        return False
    try:
        no_control_characters(name)
    except ValueError:
        return False
    return True


async def precondition_failed(session: DavSession) -> Response:
    await session.rollback()  # the book's lock given back
    return Response(status_code=status.HTTP_412_PRECONDITION_FAILED)


def etag_if_same(contact: Contact, sent: bytes) -> dict[str, str]:
    """The ETag of a card just written, only when the card as it is now written (in the
    vCard version sent) holds the lines sent: RFC 6352 §6.3.2.3 forbids a strong ETag for a
    card stored otherwise, and a client without one fetches the card (vdirsyncer, DAVx5)."""
    lines = unfolded_lines(sent.decode("utf-8-sig", errors="replace"))
    version: Version = "4.0" if "VERSION:4.0" in lines else "3.0"
    if sorted(lines) != sorted(unfolded_lines(vcard_text(contact, version))):
        return {}
    return {"ETag": etag(contact)}


def unfolded_lines(text: str) -> list[str]:
    """A card's content lines, whatever its line ends and folding."""
    return [line for line in re.sub(r"\r?\n[ \t]", "", text).splitlines() if line]


async def create_card(
    session: DavSession,
    user: DavUserInfo,
    name: str,
    card: CardRead,
    contact_in: ContactCreate,
    sent: bytes,
) -> Response:
    uid = card.uid or new_uid()
    if await uid_in_use(session, user.id, uid):
        await session.rollback()
        return forbidden(tag(CARD, "no-uid-conflict"))
    columns = contact_in.columns()
    contact = Contact(
        **columns,
        owner_id=user.id,
        uid=uid,
        kept_properties=card.kept,
        dav_name=name_for(uid, name),
    )
    await add_contact(session, contact, contact_in.labels)
    return Response(
        status_code=status.HTTP_201_CREATED,
        headers=etag_if_same(contact, sent) | {"Location": card_path(user.id, name)},
    )
