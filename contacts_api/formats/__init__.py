"""vCard and CSV: contacts written to a file, and the records read back from one.

Pure functions, no FastAPI and no database. Reading gives raw field values per record;
the import route validates them like any `ContactCreate`.

- `vcard`: vCard 4.0 out; 2.1, 3.0 and 4.0 in, as address books write them.
- `csv`: this service's CSV out and in; Google Contacts' and Outlook's CSV in.
- `records`: what both give the route, and the words for a field that is missing or wrong.
"""

from contacts_api.formats.csv import CSV_COLUMNS, csv_rows, is_outlook_header, read_csv, to_csv
from contacts_api.formats.records import MAX_RECORDS, NotAContactFile, Record
from contacts_api.formats.vcard import read_vcards, to_vcard

__all__ = [
    "CSV_COLUMNS",
    "MAX_RECORDS",
    "NotAContactFile",
    "Record",
    "read_records",
    "to_csv",
    "to_vcard",
]


def read_records(data: bytes) -> list[Record]:
    """The records of an uploaded vCard or CSV file, in file order."""
    is_vcard = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:11].upper() == b"BEGIN:VCARD"
    try:
        text, raw_bytes = data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        # Outlook writes vCards and CSV in the Windows code page. A vCard says the character
        # set of each value (CHARSET=windows-1252): its text is read byte for byte and each
        # value decoded on its own. A CSV file says nothing: only Outlook's is taken, as
        # Windows-1252.
        if is_vcard:
            text, raw_bytes = data.decode("latin-1"), True
        else:
            text, raw_bytes = _outlook_csv_text(data), False
    if "\x00" in text:
        raise NotAContactFile("The file is not text: it holds NUL characters")
    if not text.strip():
        raise NotAContactFile("The file is empty")
    if is_vcard:
        return read_vcards(text, raw_bytes)
    return read_csv(csv_rows(text))


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
