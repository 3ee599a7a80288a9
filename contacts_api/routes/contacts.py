"""The address book: create, read, replace, update and delete contacts, and search them.

The trash and the birthdays have modules of their own (trash.py, birthdays.py); writing one
contact (ETags, `If-Match`, the trash) is in contacts_api/contact_writes.py, which CardDAV
uses too.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AfterValidator
from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    FunctionElement,
    Select,
    Text,
    bindparam,
    func,
    literal_column,
    or_,
    true,
)
from sqlalchemy import select as sql_select
from sqlmodel import col

from contacts_api.contact_writes import (
    IN_THE_BOOK,
    PRECONDITION_FAILED,
    add_contact,
    contact_answer,
    trash_contact,
    with_etag,
    write_contact,
)
from contacts_api.db import read_engine
from contacts_api.deps import (
    PUBLIC_COLUMNS,
    PUBLIC_FIELDS,
    CurrentUser,
    IfMatch,
    IfNoneMatch,
    OwnedContact,
    OwnedContactRow,
    SessionDep,
    TokenClaims,
    first_statement,
    if_none_match_holds,
    public_json_columns,
    session_is_open,
    session_parameters,
    session_user_id,
)
from contacts_api.docs import INVALID_CONTACT, NOT_FOUND, UNAUTHORIZED, Responses, invalid
from contacts_api.models import (
    AuthSession,
    Contact,
    ContactCreate,
    ContactLabel,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    Label,
    emails_text,
    etag,
    label_key,
    no_control_characters,
    phone_digits,
)

# Paging, the same for the book and the trash.
PageLimit = Annotated[int, Query(ge=1, le=100)]
PageOffset = Annotated[int, Query(ge=0, le=2**31 - 1)]
LIMIT_TOO_LARGE = invalid(
    "query", "limit", "less_than_equal", "Input should be less than or equal to 100", le=100
)

NOT_MODIFIED: Responses = {
    304: {"description": "`If-None-Match` holds the current ETag: your copy is current"}
}


router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPublic,
    responses=with_etag(201, "The contact, created") | INVALID_CONTACT,
)
async def create_contact(
    contact_in: ContactCreate, user: CurrentUser, session: SessionDep, request: Request
) -> Response:
    """Add a contact to your address book: a name (first, last or a company) is all it needs."""
    contact = Contact(**contact_in.columns(), owner_id=user.id)  # type: ignore[arg-type]
    await add_contact(session, contact, contact_in.labels)
    answer = contact_answer(contact, status.HTTP_201_CREATED)
    # A path, not a URL built from the Host header, which the client chooses.
    answer.headers["Location"] = request.url_for("read_contact", contact_id=contact.id).path
    return answer


# --- Search ----------------------------------------------------------------------------------


def _optional_text(value: str | None) -> str | None:
    # Tabs and line breaks are white space, which `q` is split on and filters are trimmed of.
    return None if value is None else no_control_characters(value, allowed="\t\r\n")


SearchText = Annotated[str | None, AfterValidator(_optional_text)]

# What a word of a phone number may hold besides its digits.
PHONE_SEPARATORS = re.compile(r"[ .()/*#+-]")


def digits_of(word: str) -> str | None:
    """The digits of a word made of digits and a phone's separators (`555-0100`), else None."""
    digits = PHONE_SEPARATORS.sub("", word)
    return digits if digits.isdigit() and digits.isascii() else None


def _phone_search(value: str | None) -> str | None:
    value = _optional_text(value)
    if value is None or not value.strip():
        return value  # no filter (and still text for the Query's length check after this)
    digits = "".join(char for char in value if char.isascii() and char.isdigit())
    if not digits:
        raise ValueError("must contain the digits to look for, such as 555 0100")
    return digits


PhoneSearch = Annotated[str | None, AfterValidator(_phone_search)]


def contains_text(column: Any, text: str) -> ColumnElement[bool]:
    # `autoescape` makes %, _ and the escape character literal, never wildcards.
    expression = column if isinstance(column, FunctionElement) else col(column)
    return expression.icontains(text, autoescape=True)


def word_matches(word: str) -> ColumnElement[bool]:
    """A contact that has `word` in a name, its company or an email, or, for a word of
    digits, among the digits of one of its phone numbers."""
    found = [
        contains_text(Contact.first_name, word),
        contains_text(Contact.last_name, word),
        contains_text(Contact.company, word),
        contains_text(emails_text(Contact.emails), word),
    ]
    digits = digits_of(word)
    if digits:
        found.append(phone_digits(Contact.phones).contains(digits))
    return or_(*found)


@router.get(
    "",
    response_model=ContactPage,
    responses=LIMIT_TOO_LARGE,
)
async def read_contacts(
    claims: TokenClaims,
    q: Annotated[
        SearchText,
        Query(
            max_length=200,
            description="Words that must each appear in the first name, last name, company or "
            "an email; a word of digits may also be in a phone number (`5550100`).",
            examples=["ann smi"],
        ),
    ] = None,
    first_name: Annotated[SearchText, Query(max_length=50)] = None,
    last_name: Annotated[SearchText, Query(max_length=50)] = None,
    company: Annotated[SearchText, Query(max_length=100)] = None,
    email: Annotated[
        SearchText, Query(max_length=254, description="Part of any of the contact's emails.")
    ] = None,
    phone: Annotated[
        PhoneSearch,
        Query(
            max_length=64,
            description="Digits that one of the contact's phone numbers holds (separators "
            "aside): `555 0100`.",
        ),
    ] = None,
    label: Annotated[
        SearchText,
        Query(
            max_length=200,
            description="Only contacts with this label (its name, case aside).",
            examples=["Family"],
        ),
    ] = None,
    favorite: Annotated[
        bool | None, Query(description="Only favourites (`true`) or only the others (`false`).")
    ] = None,
    limit: PageLimit = 20,
    offset: PageOffset = 0,
) -> Response:
    """List your contacts, optionally searched and filtered, a page at a time."""
    filters = []
    if favorite is not None:
        filters.append(col(Contact.favorite) == favorite)
    if label and label.strip():
        with_label = (
            sql_select(col(ContactLabel.contact_id))
            .join(Label, col(Label.id) == col(ContactLabel.label_id))
            .where(
                col(Label.owner_id) == bindparam("user_id"),
                col(Label.name_key) == label_key(label),
            )
        )
        filters.append(col(Contact.id).in_(with_label))
    filters += [word_matches(word) for word in (q or "").split()]
    for column, value in (
        (Contact.first_name, first_name),
        (Contact.last_name, last_name),
        (Contact.company, company),
        (emails_text(Contact.emails), email),
    ):
        if value and value.strip():
            filters.append(contains_text(column, value.strip()))
    if phone and phone.strip():
        filters.append(phone_digits(Contact.phones).contains(phone))
    page, count = book_page(filters) if filters else (BOOK_PAGE, BOOK_COUNT)
    as_json = read_engine.dialect.name == "postgresql"
    if as_json:
        # PostgreSQL writes each contact's JSON (list 20: 15 % of the JWT floor with the rows
        # read into Python and written again; docs/performance.md).
        page = book_page_json(filters) if filters else BOOK_PAGE_JSON
    parameters = session_parameters(claims) | {"limit": limit, "offset": offset}
    # A connection of its own, given back before the answer is written (see
    # deps.get_owned_contact_row).
    async with read_engine.connect() as connection:
        rows = (await first_statement(connection, page, parameters)).all()
        if rows:
            total = rows[0][-1]
        else:
            await session_user_id(connection, claims)  # a closed session: 401, not an empty page
            # A page past the end still says how many there are.
            total = 0 if offset == 0 else (await connection.execute(count, parameters)).scalar_one()
    if as_json:
        items_text = ",".join(item for item, _ in rows)
        return Response(
            f'{{"items":[{items_text}],"total":{total},"limit":{limit},"offset":{offset}}}',
            media_type="application/json",
        )
    items = [dict(zip(PUBLIC_FIELDS, values, strict=True)) for *values, _ in rows]
    # Written out here from the rows, which hold the database's values of checked columns:
    # FastAPI would build and check a ContactPage of 20 models first, 0.15 ms of list 20's
    # 1.1 ms of CPU (in-process). `response_model` above still documents the shape.
    page_out = {"items": items, "total": total, "limit": limit, "offset": offset}
    return Response(to_json(page_out), media_type="application/json")


# The list order: by last name, else first name, else company (the generated `sort_name`),
# then the first name (none first), then the id.
BOOK_ORDER = (
    col(Contact.sort_name),
    col(Contact.first_name).nulls_first(),
    col(Contact.id),
)


def book_page(filters: list[ColumnElement[bool]]) -> tuple[Select[Any], Select[Any]]:
    """A page of the user's book that passes `filters`, in the list order, and the count of
    all that pass them.

    The count rides along with the page as a subquery, which PostgreSQL runs once, and the
    check that the token's session is open as a join, as for one contact: one round trip in
    all. Rows of the public columns, not entities, as for birthdays. The user, the session and
    the page come in as parameters (`user_id`, `session_id`, `now`, `limit`, `offset`).
    """
    matches = [col(Contact.owner_id) == bindparam("user_id"), IN_THE_BOOK, *filters]
    count = sql_select(func.count()).select_from(Contact).where(*matches)
    page = (
        sql_select(*PUBLIC_COLUMNS, count.scalar_subquery())
        .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
        .where(*matches, session_is_open())
        .order_by(*BOOK_ORDER)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return page, count


def book_page_json(filters: list[ColumnElement[bool]]) -> Select[Any]:
    """`book_page`'s page on PostgreSQL, each contact as the JSON text of the answer: the
    rows' lists (emails, phones, ...) are not read into Python and written again."""
    page, _ = book_page(filters)
    item = (
        sql_select(*(value.label(name) for name, value in public_json_columns().items()))
        .correlate(Contact)
        .lateral("c")
    )
    total = list(page.selected_columns)[-1]
    return page.with_only_columns(
        func.row_to_json(literal_column("c")).cast(Text), total, maintain_column_froms=True
    ).join(item, true())


# The statements of a list without filters, built once: building them again for every request
# took 0.6 ms of CPU, more than the rest of list 20 (1.6 -> 0.95 ms, in-process).
BOOK_PAGE, BOOK_COUNT = book_page([])
BOOK_PAGE_JSON = book_page_json([])


# --- One contact -------------------------------------------------------------------------
# Before the trash's routes (trash.py), though `/trash` is a fixed path: the router tries the
# routes in the order they are declared, these are the busiest, and `{contact_id:id}` takes
# digits only, so it never matches `/trash` (nor `/birthdays`).


@router.get(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact") | NOT_MODIFIED | NOT_FOUND,
)
async def read_contact(contact: OwnedContactRow, if_none_match: IfNoneMatch = None) -> Response:
    """One of your contacts, with its ETag; 304 if `If-None-Match` holds that ETag."""
    tag = etag(contact)
    if if_none_match is not None and if_none_match_holds(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    # The row straight into JSON, written out here: FastAPI's response validation and
    # serialisation of a returned model cost 4 % of GET one's req/s (1,046 -> 1,086 in one
    # run). `response_model` above still documents the shape.
    body = to_json(dict(zip(PUBLIC_FIELDS, contact, strict=False)))
    return Response(body, media_type="application/json", headers={"ETag": tag})


@router.put(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact, replaced")
    | NOT_FOUND
    | PRECONDITION_FAILED
    | INVALID_CONTACT,
)
async def replace_contact(
    contact: OwnedContact,
    contact_in: ContactCreate,
    session: SessionDep,
    if_match: IfMatch = None,
) -> Response:
    """Replace every field of a contact: what the body leaves out becomes null, `[]` or
    false. (The vCard properties kept from an import stay.)"""
    changes = contact_in.columns()
    contact = await write_contact(session, contact, lambda _: changes, contact_in.labels, if_match)
    return contact_answer(contact)


@router.patch(
    "/{contact_id:id}",
    response_model=ContactPublic,
    responses=with_etag(200, "The contact, changed")
    | NOT_FOUND
    | PRECONDITION_FAILED
    | invalid("body", "favorite", "value_error", "Value error, may be omitted but not null"),
)
async def update_contact(
    contact: OwnedContact,
    contact_in: ContactUpdate,
    session: SessionDep,
    if_match: IfMatch = None,
) -> Response:
    """Change only the fields you send (`email` and `phone`: the primary entries)."""
    labels = contact_in.labels if "labels" in contact_in.model_fields_set else None
    contact = await write_contact(session, contact, contact_in.changes, labels, if_match)
    return contact_answer(contact)


@router.delete(
    "/{contact_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND | PRECONDITION_FAILED,
)
async def delete_contact(
    contact: OwnedContact, session: SessionDep, if_match: IfMatch = None
) -> None:
    """Move a contact to the trash (restore it from there, or it goes after
    `TRASH_RETENTION_DAYS`)."""
    await trash_contact(session, contact, if_match)
