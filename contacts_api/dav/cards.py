"""The cards of a book: found by their CardDAV names, listed, written by PUT, trashed by DELETE.

The same rows, versions and ETags as the REST routes: a card is a contact, its `getetag` the
contact's ETag, and a write here is a write there (routes/contacts.py's `write_contact`).
"""

from typing import Any
from urllib.parse import quote

from sqlalchemy import Integer, String, any_, bindparam, func, literal_column
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contacts_api.db import engine
from contacts_api.models import IN_THE_BOOK, Contact

# A card's name: the last segment of its path, as the database computes it (DAV_HREF of the
# models, which an index holds): the one the PUT that made it chose, else `{uid}.vcf`.
CARD_NAME = func.coalesce(
    col(Contact.dav_name), col(Contact.uid).op("||")(literal_column("'.vcf'"))
)
# The longest name a PUT may choose (the column's length).
MAX_NAME_LENGTH = 255
# What a name keeps unescaped in an href: RFC 3986's pchar (so `urn:uuid:...` stays readable).
HREF_SAFE = "!$&'()*+,;=:@~"


def principal_path(user_id: int) -> str:
    return f"/dav/principals/{user_id}/"


def home_path(user_id: int) -> str:
    return f"/dav/addressbooks/{user_id}/"


def book_path(user_id: int) -> str:
    return f"/dav/addressbooks/{user_id}/contacts/"


def quoted(name: str) -> str:
    """A card's name as its href ends."""
    return quote(name, safe=HREF_SAFE)


def card_path(user_id: int, name: str) -> str:
    return book_path(user_id) + quoted(name)


def name_for(uid: str, chosen: str) -> str | None:
    """What `dav_name` stores for a card PUT at `chosen`: nothing when it is `{uid}.vcf`."""
    return None if chosen == f"{uid}.vcf" else chosen


def one_of(expression: Any, values: list[Any], item_type: Any) -> Any:
    """`expression IN values`. On PostgreSQL one array parameter (`= ANY`), so that a multiget
    of 100 hrefs is one statement that SQLAlchemy and psycopg have seen before, not 100
    parameters written out anew: that was a quarter of a first sync's server time."""
    if engine.dialect.name == "postgresql":
        return expression == any_(bindparam(None, values, type_=ARRAY(item_type)))
    return expression.in_(values)


def named(names: list[str]) -> Any:
    # A name with a NUL is no card's (PUT refuses control characters), and PostgreSQL's text
    # cannot hold one: it is not looked for.
    return one_of(CARD_NAME, [name for name in names if "\x00" not in name], String)


def mine(user_id: int) -> list[Any]:
    return [col(Contact.owner_id) == user_id, IN_THE_BOOK]


async def card_listing(session: AsyncSession, user_id: int, dated: bool = True) -> list[Any]:
    """Every card of the book: its id, name, version (for the ETag) and, when `dated`, last
    change (reading 10,000 dates took longer than writing the listing's XML)."""
    columns: list[Any] = [col(Contact.id), CARD_NAME.label("name"), col(Contact.version)]
    if dated:
        columns.append(col(Contact.updated_at))
    found = await session.exec(
        sql_select(*columns).where(*mine(user_id)).order_by(col(Contact.id))  # type: ignore[call-overload]
    )
    return list(found.all())


async def cards_named(session: AsyncSession, user_id: int, names: list[str]) -> dict[str, Contact]:
    """The contacts of the book with these names (with their labels), by name."""
    if not names:
        return {}
    found = await session.exec(select(Contact, CARD_NAME).where(*mine(user_id), named(names)))
    cards: dict[str, Contact] = {}
    for contact, name in found.all():
        cards.setdefault(name, contact)  # two of one name (a restore): the first made
    return cards


async def card_heads(session: AsyncSession, user_id: int, names: list[str]) -> dict[str, Any]:
    """What a multiget needs to know of the cards with these names before reading them:
    id, version, last change, by name. The cards whose text is kept (props.vcard_text) are
    not read again."""
    if not names:
        return {}
    # On the session's connection: no ORM step for rows that are no entities (a tenth of a
    # multiget's time).
    connection = await session.connection()
    found = await connection.execute(
        sql_select(
            col(Contact.id), col(Contact.version), col(Contact.updated_at),
            CARD_NAME.label("name"),
        ).where(*mine(user_id), named(names))
    )  # fmt: skip
    heads: dict[str, Any] = {}
    for row in found.all():
        heads.setdefault(row.name, row)
    return heads


async def contacts_by_id(session: AsyncSession, ids: list[int]) -> dict[int, Contact]:
    if not ids:
        return {}
    query = select(Contact).where(one_of(col(Contact.id), ids, Integer), IN_THE_BOOK)
    found = await session.exec(query)
    return {contact.id: contact for contact in found.all()}  # type: ignore[misc]


async def card_named(session: AsyncSession, user_id: int, name: str) -> Contact | None:
    return (await cards_named(session, user_id, [name])).get(name)


async def every_card(session: AsyncSession, user_id: int) -> list[tuple[Contact, str]]:
    found = await session.exec(
        select(Contact, CARD_NAME).where(*mine(user_id)).order_by(col(Contact.id))
    )
    return [(contact, name) for contact, name in found.all()]


async def address_taken(session: AsyncSession, user_id: int, uid: str, name: str) -> bool:
    """Whether a card of the book has this UID or this name: a card coming back from the trash
    with either would be a second card of one address (RFC 6352's no-uid-conflict)."""
    query = select(Contact.id).where(
        *mine(user_id), (col(Contact.uid) == uid) | CARD_NAME.in_([name])
    )
    return (await session.exec(query)).first() is not None


async def uid_in_use(
    session: AsyncSession, user_id: int, uid: str, other_than: int | None = None
) -> bool:
    """Whether another card of the book has this UID (RFC 6352's no-uid-conflict)."""
    query = select(Contact.id).where(*mine(user_id), col(Contact.uid) == uid)
    if other_than is not None:
        query = query.where(col(Contact.id) != other_than)
    found = await session.exec(query)
    return found.first() is not None
