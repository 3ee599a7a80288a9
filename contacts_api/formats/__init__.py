"""vCard and CSV: contacts written to a file, and the records read back from one.

Pure functions, no FastAPI and no database.

- `records`: what every reader gives (`CardRead`: fields, UID, kept properties, warnings),
  and the checks of each value.
- `vcard_lines`, `vcard_read`, `vcard_write`: vCard 2.1, 3.0 and 4.0 in, 4.0 and 3.0 out.
- `csv_read`, `csv_write`: Google Contacts' layout out; it, Outlook's and the first model's in.

The CardDAV routes use `read_card_data` and `write_card`; the import and export use the same.
"""

from contacts_api.formats.csv_read import csv_rows, is_outlook_header, read_csv
from contacts_api.formats.csv_write import to_csv
from contacts_api.formats.records import (
    MAX_KEPT_BYTES,
    MAX_RECORDS,
    CardRead,
    NotAContactFile,
    Record,
    digits,
)
from contacts_api.formats.vcard_read import read_card, read_vcards
from contacts_api.formats.vcard_write import to_vcard, write_card

__all__ = [
    "MAX_KEPT_BYTES",
    "MAX_RECORDS",
    "CardRead",
    "NotAContactFile",
    "Record",
    "digits",
    "read_card",
    "read_card_data",
    "read_records",
    "to_csv",
    "to_vcard",
    "write_card",
]


def read_records(data: bytes) -> list[Record]:
    """The records of an uploaded vCard or CSV file, in file order."""
    is_vcard = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:11].upper() == b"BEGIN:VCARD"
    if is_vcard:
        text, raw_bytes = vcard_text(data)
    else:
        try:
            text, raw_bytes = data.decode("utf-8-sig"), False
        except UnicodeDecodeError:
            # A CSV file says nothing of its character set: only Outlook's is taken, as
            # Windows-1252.
            text, raw_bytes = _outlook_csv_text(data), False
    if "\x00" in text:
        raise NotAContactFile("The file is not text: it holds NUL characters")
    if not text.strip():
        raise NotAContactFile("The file is empty")
    if is_vcard:
        return read_vcards(text, raw_bytes)
    return read_csv(csv_rows(text))


def vcard_text(data: bytes) -> tuple[str, bool]:
    """The text of vCard data, and whether it holds raw bytes: UTF-8 (without its BOM), else
    each byte one character. Outlook writes vCards in the Windows code page, and a vCard says
    the character set of each value (CHARSET=windows-1252): each value is then decoded on its
    own, in it (Windows-1252 when it says none)."""
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("latin-1"), True


def read_card_data(data: bytes) -> CardRead:
    """One vCard of a CardDAV PUT, its bytes decoded as an import decodes a vCard file's."""
    text, raw_bytes = vcard_text(data)
    if "\x00" in text:
        raise NotAContactFile("The card is not text: it holds NUL characters")
    return read_card(text, raw_bytes)


def _outlook_csv_text(data: bytes) -> str:
    try:
        text = data.decode("windows-1252")
    except UnicodeDecodeError:
        text = ""
    try:
        header = next(iter(csv_rows(text.split("\n", 1)[0].replace("\x00", ""))), [])
    except NotAContactFile:
        header = []
    if not is_outlook_header(header):
        raise NotAContactFile("The file is not UTF-8 text")
    return text
