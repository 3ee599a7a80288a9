"""Contacts to and from files: vCard 4.0 and CSV export; vCard 2.1/3.0/4.0 and CSV import (this
service's, Google Contacts' and Outlook's)."""

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import insert as sql_insert
from sqlalchemy import select as sql_select
from sqlmodel import col, select

from contacts_api.deps import CurrentUser, SessionDep
from contacts_api.docs import TOO_LARGE, UNAUTHORIZED, Responses, invalid
from contacts_api.formats import (
    CSV_COLUMNS,
    NotAContactFile,
    read_records,
    to_csv,
    to_vcard,
)
from contacts_api.models import (
    Contact,
    ContactCreate,
    ContactLabel,
    ImportReport,
    RefusedRecord,
    SkippedRecord,
    User,
    label_key,
    public_columns,
    utc_now,
)
from contacts_api.routes.contacts import BOOK_ORDER
from contacts_api.routes.labels import find_or_create_labels

router = APIRouter(prefix="/contacts", tags=["import and export"], responses=UNAUTHORIZED)


VCARD_EXAMPLE = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Smith;Ann;;;\r\nFN:Ann Smith\r\n"
    "EMAIL:ann.smith@example.com\r\nTEL:+1 (555) 010-0199\r\nBDAY:19900415\r\n"
    "NOTE:Met at PyCon\\; prefers email.\r\nCATEGORIES:Family,Work\r\nX-FAVORITE:TRUE\r\n"
    "END:VCARD\r\n"
)
CSV_EXAMPLE = (
    "first_name,last_name,email,phone,birthday,notes,favorite,labels\r\n"
    "Ann,Smith,ann.smith@example.com,+1 (555) 010-0199,1990-04-15,Met at PyCon; prefers email.,"
    "true,Family;Work\r\n"
)

EXPORTED_FILE: Responses = {
    200: {
        "description": "Every contact of yours, as a file to download",
        "content": {
            "text/vcard": {"schema": {"type": "string"}, "example": VCARD_EXAMPLE},
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
        },
    }
}

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
        Query(alias="format", description="`vcard` (vCard 4.0) or `csv`."),
    ] = "vcard",
) -> Response:
    """Download your whole address book as a vCard 4.0 or CSV file."""
    media_type, filename, write = FILE_TYPES[file_format]
    columns = public_columns() | {"labels": Contact.labels}
    contacts = (
        await session.exec(  # type: ignore[call-overload]
            sql_select(*(columns[name] for name in (*CSV_COLUMNS, "company")))
            .where(col(Contact.owner_id) == user.id, col(Contact.deleted_at).is_(None))
            .order_by(*BOOK_ORDER)
        )
    ).all()
    # Writing 100,000 contacts takes a while: in a thread, so that other requests go on.
    body = await anyio.to_thread.run_sync(write, contacts)
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def describe(error: ValidationError) -> str:
    """ "email: value is not a valid email address; phone: ..." for a refused record."""
    messages = []
    for problem in error.errors(include_input=False, include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in problem["loc"])
        messages.append(f"{field}: {message}" if field else message)
    return "; ".join(messages)


def validate_records(data: bytes) -> tuple[list[tuple[int, ContactCreate]], list[RefusedRecord]]:
    """Read the file and check each record like a `ContactCreate`."""
    valid, errors = [], []
    for record in read_records(data):
        if record.fields is None:
            errors.append(RefusedRecord(item=record.item, detail=record.problem))
            continue
        try:
            valid.append((record.item, ContactCreate.model_validate(record.fields)))
        except ValidationError as exc:
            errors.append(RefusedRecord(item=record.item, detail=describe(exc)))
    return valid, errors


@router.post(
    "/import",
    responses=TOO_LARGE | invalid("body", "file", "value_error", "The file is not UTF-8 text"),
)
async def import_contacts(
    user: CurrentUser,
    session: SessionDep,
    file: Annotated[
        UploadFile,
        # "binary": generated clients then send a file, not a text field.
        File(
            description="A vCard file (2.1, 3.0 or 4.0) or a CSV file (this service's, or the "
            "export of Google Contacts or Outlook).",
            json_schema_extra={"format": "binary"},
        ),
    ],
) -> ImportReport:
    """Add the contacts of a vCard or CSV file to your address book, and report on each record.

    Records whose email is already in your book (or earlier in the file) are skipped; records
    that fail the rules of `POST /api/contacts` are listed with the reason. The others are
    created together, in one transaction.
    """
    data = await file.read()
    try:
        # Parsing and validating thousands of records: in a thread, not on the event loop.
        valid, errors = await anyio.to_thread.run_sync(validate_records, data)
    except NotAContactFile as exc:
        error = {"type": "value_error", "loc": ("body", "file"), "msg": str(exc)}
        raise RequestValidationError([error]) from None

    skipped: list[SkippedRecord] = []
    first_item_of: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    labels_of: dict[str, list[str]] = {}
    now = utc_now()
    for item, contact in valid:
        # (Every record of the first model's files has an email: records.py.)
        assert contact.email is not None  # noqa: S101
        if contact.email in first_item_of:
            reason = f"Same email as item {first_item_of[contact.email]} of this file"
            skipped.append(SkippedRecord(item=item, reason=reason))
            continue
        first_item_of[contact.email] = item
        labels_of[contact.email] = contact.labels
        rows.append(
            contact.columns()
            | {
                "owner_id": user.id,
                "created_at": now,
                "updated_at": now,
            }
        )

    created: set[str] = set()
    if rows:
        # The labels first, in one query (none when the file has none), as every writer
        # takes them: see find_or_create_labels.
        found = await find_or_create_labels(
            session,
            user.id,  # type: ignore[arg-type]
            (name for names in labels_of.values() for name in names),
        )
        # One import of a user at a time: two at once would both find an email missing and
        # both create its contact. (SQLite's writer holds the database from BEGIN: db.py.)
        await session.exec(
            select(User.id).where(col(User.id) == user.id).with_for_update(key_share=True)
        )
        # Every address of the book: the contact of an address it has is not made twice.
        in_the_book = {
            entry["address"]
            for (emails,) in await session.exec(  # type: ignore[call-overload]
                sql_select(col(Contact.emails)).where(
                    col(Contact.owner_id) == user.id, col(Contact.deleted_at).is_(None)
                )
            )
            for entry in emails
        }
        rows = [row for row in rows if row["emails"][0]["address"] not in in_the_book]
        connection = await session.connection()
        ids: dict[str, int] = {}
        if rows:
            returned = await connection.execute(
                sql_insert(Contact).returning(col(Contact.id), col(Contact.emails)), rows
            )
            ids = {emails[0]["address"]: id_ for id_, emails in returned}
        pairs = {
            (ids[email], found[label_key(name)][0])
            for email, names in labels_of.items()
            if email in ids
            for name in names
        }
        if pairs:
            await connection.execute(
                sql_insert(ContactLabel),
                [{"contact_id": contact, "label_id": label} for contact, label in sorted(pairs)],
            )
        created = set(ids)
        await session.commit()
    for item, contact in valid:
        if first_item_of[contact.email or ""] == item and contact.email not in created:
            reason = "A contact with this email is already in your address book"
            skipped.append(SkippedRecord(item=item, reason=reason))

    skipped.sort(key=lambda record: record.item)
    return ImportReport(created=len(created), skipped=skipped, errors=errors)
