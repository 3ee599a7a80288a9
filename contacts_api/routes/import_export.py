"""Contacts to and from files: vCard 4.0 and CSV (Google Contacts' layout) out; vCard 2.1, 3.0
and 4.0 and CSV (Google's, Outlook's, this service's, the first model's) in."""

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy import select as sql_select
from sqlmodel import col, select

from contacts_api.contact_writes import lock_book
from contacts_api.dav.cards import CARD_NAME
from contacts_api.deps import CurrentUser, SessionDep
from contacts_api.docs import UNAUTHORIZED, Responses, error, invalid
from contacts_api.formats import (
    CardRead,
    NotAContactFile,
    digits,
    read_records,
    to_csv,
    to_vcard,
)
from contacts_api.models import (
    Contact,
    ContactCreate,
    ContactLabel,
    ImportReport,
    ImportWarning,
    RefusedRecord,
    SkippedRecord,
    label_key,
    new_uid,
    utc_now,
)
from contacts_api.routes.labels import find_or_create_labels

router = APIRouter(prefix="/contacts", tags=["import and export"], responses=UNAUTHORIZED)

# The Swagger examples, written by the writers themselves: they always show what an export is.
_EXAMPLE = SimpleNamespace(
    first_name="Ann",
    last_name="Smith",
    company="Acme Ltd",
    job_title="Engineer",
    emails=[{"address": "ann.smith@example.com", "label": "work"}],
    phones=[
        {"number": "+1 (555) 010-0199", "label": "mobile"},
        {"number": "+1 555 010 0100", "label": "Grandma's"},
    ],
    addresses=[
        {
            "label": "home",
            "po_box": None,
            "extended": None,
            "street": "12 Baker Street",
            "city": "London",
            "region": None,
            "postal_code": "NW1 6XE",
            "country": "United Kingdom",
        }
    ],
    websites=[{"url": "https://example.com", "label": None}],
    birthday="--04-15",
    notes="Met at PyCon; prefers email.",
    favorite=True,
    labels=["Family", "Work"],
    uid="urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    kept_properties="NICKNAME:Annie\r\n",
)
EXPORTED_FILE: Responses = {
    200: {
        "description": "Every contact of yours, as a file to download",
        "content": {
            "text/vcard": {"schema": {"type": "string"}, "example": to_vcard([_EXAMPLE])},
            "text/csv": {"schema": {"type": "string"}, "example": to_csv([_EXAMPLE])},
        },
    }
}
IMPORT_TOO_LARGE = error(
    413, "The file is larger than `MAX_IMPORT_BYTES`", "Request body is larger than 20971520 bytes"
)

FILE_TYPES = {
    "vcard": ("text/vcard; charset=utf-8", "contacts.vcf", to_vcard),
    "csv": ("text/csv; charset=utf-8", "contacts.csv", to_csv),
}


@router.get(
    "/export",
    response_class=Response,
    responses=EXPORTED_FILE
    | invalid(
        "query",
        "format",
        "literal_error",
        "Input should be 'vcard' or 'csv'",
        expected="'vcard' or 'csv'",
    ),
)
async def export_contacts(
    user: CurrentUser,
    session: SessionDep,
    file_format: Annotated[
        Literal["vcard", "csv"],
        Query(alias="format", description="`vcard` (vCard 4.0) or `csv` (Google's layout)."),
    ] = "vcard",
) -> Response:
    """Download your whole address book as a vCard 4.0 or CSV file."""
    media_type, filename, write = FILE_TYPES[file_format]
    contacts = (
        await session.exec(
            select(Contact)
            .where(col(Contact.owner_id) == user.id, col(Contact.deleted_at).is_(None))
            .order_by(col(Contact.sort_name), col(Contact.first_name), col(Contact.id))
        )
    ).all()
    # Writing 100,000 contacts takes a while: in a thread, so that other requests go on.
    body = await anyio.to_thread.run_sync(write, contacts)
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def describe(problem: ValidationError) -> str:
    """ "emails.0.address: value is not a valid email address; ..." for a refused record."""
    messages = []
    for found in problem.errors(include_input=False, include_url=False):
        message = found["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in found["loc"])
        messages.append(f"{where}: {message}" if where else message)
    return "; ".join(messages)


@dataclass
class ReadFile:
    """The records of a file that make contacts, and what the others lack."""

    contacts: list[tuple[int, ContactCreate, CardRead]] = field(default_factory=list)
    errors: list[RefusedRecord] = field(default_factory=list)
    warnings: list[ImportWarning] = field(default_factory=list)


def read_file(data: bytes) -> ReadFile:
    """Read the file and make each record a `ContactCreate` (its values were checked one by
    one: a rule across fields is all that can still refuse it)."""
    found = ReadFile()
    for record in read_records(data):
        if record.card is None:
            found.errors.append(RefusedRecord(item=record.item, detail=record.problem))
            continue
        try:
            contact = ContactCreate.model_validate(record.card.fields)
        except ValidationError as exc:
            found.errors.append(RefusedRecord(item=record.item, detail=describe(exc)))
            continue
        found.contacts.append((record.item, contact, record.card))
        found.warnings += [ImportWarning(item=record.item, detail=w) for w in record.card.warnings]
    return found


NameKey = tuple[str, str, str]


class Known:
    """The contacts of the book and of the file so far, by what makes two the same one."""

    def __init__(self) -> None:
        self.uids: dict[str, str] = {}
        # The CardDAV names of the book's cards (dav/cards.py): a record whose `{UID}.vcf` is
        # one of them gets a new UID, or two cards would have one address.
        self.names: set[str] = set()
        self.named: dict[NameKey, list[tuple[set[str], set[str], str]]] = {}

    @staticmethod
    def key(first: str | None, last: str | None, company: str | None) -> NameKey:
        return ((first or "").casefold(), (last or "").casefold(), (company or "").casefold())

    def add(self, uid: str, key: NameKey, emails: set[str], phones: set[str], where: str) -> None:
        self.uids.setdefault(uid, where)
        self.named.setdefault(key, []).append((emails, phones, where))

    def same_as(
        self, uid: str | None, key: NameKey, emails: set[str], phones: set[str]
    ) -> str | None:
        """Why a record is a contact known already, in words; None when it is new."""
        if uid is not None and uid in self.uids:
            return f"Same UID as {self.uids[uid]}"
        for known_emails, known_phones, where in self.named.get(key, []):
            if not emails and not phones:
                return f"Same name and company as {where}, and no email or phone to tell them apart"
            if emails & known_emails:
                return f"Same name and company as {where}, and a shared email"
            if phones & known_phones:
                return f"Same name and company as {where}, and a shared phone number"
        return None


def _phone_digits(phones: list[Any]) -> set[str]:
    return {digits(phone["number"]) for phone in phones} - {""}


async def _known_of(session: SessionDep, user_id: int) -> Known:
    known = Known()
    rows = await session.exec(  # type: ignore[call-overload]
        sql_select(
            col(Contact.uid),
            col(Contact.first_name),
            col(Contact.last_name),
            col(Contact.company),
            col(Contact.emails),
            col(Contact.phones),
            CARD_NAME,
        ).where(col(Contact.owner_id) == user_id, col(Contact.deleted_at).is_(None))
    )
    for uid, first, last, company, emails, phones, name in rows:
        known.names.add(name)
        addresses = {email["address"] for email in emails}
        known.add(
            uid,
            Known.key(first, last, company),
            addresses,
            _phone_digits(phones),
            "a contact in your address book",
        )
    return known


@router.post(
    "/import",
    responses=IMPORT_TOO_LARGE
    | invalid("body", "file", "value_error", "The file is not UTF-8 text"),
)
async def import_contacts(
    user: CurrentUser,
    session: SessionDep,
    file: Annotated[
        UploadFile,
        # "binary": generated clients then send a file, not a text field.
        File(
            description="A vCard file (2.1, 3.0 or 4.0) or a CSV file (Google Contacts', "
            "Outlook's, this service's, or the first model's).",
            json_schema_extra={"format": "binary"},
        ),
    ],
) -> ImportReport:
    """Add the contacts of a vCard or CSV file to your address book, and report on each record.

    Every record with a name becomes a contact; a value that breaks a rule is left out of it
    and listed in `warnings`. Records that your book (or an earlier record of the file)
    already has are skipped; records without a name are `errors`. The contacts are created
    together, in one transaction.
    """
    data = await file.read()
    try:
        # Parsing and checking thousands of records: in a thread, not on the event loop.
        found = await anyio.to_thread.run_sync(read_file, data)
    except NotAContactFile as exc:
        problem = {"type": "value_error", "loc": ("body", "file"), "msg": str(exc)}
        raise RequestValidationError([problem]) from None

    user_id: int = user.id  # type: ignore[assignment]
    # One import of a user at a time: the second waits here, then finds what the first made.
    # (SQLite's transactions hold the database's write lock from their BEGIN, see db.py.)
    await lock_book(session, user_id)
    known = await _known_of(session, user_id)
    skipped: list[SkippedRecord] = []
    rows: list[dict[str, Any]] = []
    labels_of: list[list[str]] = []
    now = utc_now()
    for item, contact, card in found.contacts:
        columns = contact.columns()
        key = Known.key(contact.first_name, contact.last_name, contact.company)
        emails = {email["address"] for email in columns["emails"]}
        phones = _phone_digits(columns["phones"])
        reason = known.same_as(card.uid, key, emails, phones)
        if reason is not None:
            skipped.append(SkippedRecord(item=item, reason=reason))
            continue
        uid = card.uid or new_uid()
        if f"{uid}.vcf" in known.names:
            uid = new_uid()
            detail = f"UID {card.uid} replaced: {card.uid}.vcf is another card's CardDAV address"
            found.warnings.append(ImportWarning(item=item, detail=detail))
        known.add(uid, key, emails, phones, f"item {item} of this file")
        rows.append(
            columns
            | {
                "owner_id": user_id,
                "uid": uid,
                # A UID with a slash cannot end a path: the card gets a CardDAV name of its own.
                "dav_name": f"{new_uid()}.vcf" if "/" in uid else None,
                "kept_properties": card.kept,
                "created_at": now,
                "updated_at": now,
            }
        )
        labels_of.append(contact.labels)

    if rows:
        # The labels first, in one query (none when the file has none), as every writer
        # takes them: see find_or_create_labels.
        labels = await find_or_create_labels(
            session, user_id, (name for names in labels_of for name in names)
        )
        connection = await session.connection()
        # Batched by SQLAlchemy into multi-row INSERTs ("insertmanyvalues"): a few
        # statements for thousands of records.
        # Each row's id by its UID, which no two rows share (a second one is skipped above):
        # asking for the ids in the rows' order makes SQLite insert row by row.
        inserted = await connection.execute(
            insert(Contact).returning(col(Contact.uid), col(Contact.id)), rows
        )
        ids: dict[str, int | None] = {uid: id_ for uid, id_ in inserted}
        pairs = sorted(
            {
                (ids[row["uid"]], labels[label_key(name)][0])
                for row, names in zip(rows, labels_of, strict=True)
                for name in names
            }
        )
        if pairs:
            await connection.execute(
                insert(ContactLabel),
                [{"contact_id": contact, "label_id": label} for contact, label in pairs],
            )
    await session.commit()
    return ImportReport(
        created=len(rows),
        skipped=skipped,
        errors=found.errors,
        warnings=sorted(found.warnings, key=lambda warning: warning.item),
    )
