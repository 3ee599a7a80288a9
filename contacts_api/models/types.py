"""The validated field types and column types that the models share.

Each type checks one value a client sends and says in words what is wrong with it; the import
and CardDAV check a file's values one by one with the same types (`check_value`).
"""

import re
import unicodedata
from calendar import isleap
from datetime import UTC, date, datetime, timedelta, timezone
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, EmailStr, StringConstraints, TypeAdapter
from sqlalchemy import DateTime, Dialect, TypeDecorator
from sqlmodel import Field

# The largest id a PostgreSQL `integer` column holds; larger ids cannot exist.
MAX_ID = 2**31 - 1


def no_control_characters(value: str, *, allowed: str = "") -> str:
    # Cc: C0/C1 controls and DEL (NUL included); Cs: lone surrogates, which no database stores.
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and char not in allowed:
            # The character itself is not repeated: it may be part of a password.
            raise ValueError("must not contain control characters")
    return value


def blank_is_none(value: Any) -> Any:
    # An empty or blank text field is no value: what a form or a CSV cell sends for "none".
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _bare_address(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # EmailStr would also take "Name <address>" and keep the address: refuse it instead.
    if "<" in value or ">" in value:
        raise ValueError("must be a bare email address, without a name or angle brackets")
    return value.strip().lower()


def normalized_email(text: str) -> str:
    """An email as signup stores it, for finding a user at login: trimmed, lower-cased and
    normalised by email-validator (Unicode NFC, internationalised domains decoded)."""
    text = text.strip().lower()
    try:
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, UnicodeError):
        return text  # no user has it, and the login says so like for any unknown email


# bcrypt reads at most 72 bytes; longer passwords are refused, never cut short.
MAX_PASSWORD_BYTES = 72


def is_usable_password(password: str) -> bool:
    """Whether bcrypt can take `password` whole: UTF-8, at most 72 bytes, no NUL."""
    try:
        encoded = password.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        return False
    return len(encoded) <= MAX_PASSWORD_BYTES and b"\x00" not in encoded


def _fits_bcrypt(value: str) -> str:
    no_control_characters(value)
    if not is_usable_password(value):
        raise ValueError(f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")
    return value


Email = Annotated[EmailStr, BeforeValidator(_bare_address)]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_control_characters),
]
Password = Annotated[str, StringConstraints(min_length=8), AfterValidator(_fits_bcrypt)]


# --- A contact's fields -------------------------------------------------------------------


def _lines(value: str) -> str:
    return no_control_characters(value, allowed="\n")


# First and last name; a blank one is none (`blank_is_none` runs before, on the field).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_control_characters),
]
# Company and job title.
OrganizationText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_control_characters),
]
# The free-text label of an email, a phone, an address or a website: "work", "Grandma's".
EntryLabel = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=30),
    AfterValidator(no_control_characters),
]
# One part of a postal address; a street may run over several lines.
AddressPart = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_lines),
]

# What a phone dials: an optional leading "+", 3 to 20 digits with the separators people write
# between them (space - . ( ) /), the keys * and #, and an extension (x12, ext. 12, ;ext=12).
PHONE_PATTERN = re.compile(
    r"(?P<number>\+?[0-9 .()/*#-]+?)(?P<extension>\s*(?:x|ext\.?|;ext=)\s*[0-9]{1,10})?",
    re.IGNORECASE,
)
PHONE_DIGITS = (3, 20)


def _phone_number(value: str) -> str:
    found = PHONE_PATTERN.fullmatch(value)
    if found is None:
        raise ValueError(
            "use digits with an optional leading +, the separators space - . ( ) /, * and #, "
            "and an extension such as x12"
        )
    digits = sum(char.isdigit() for char in found["number"])
    low, high = PHONE_DIGITS
    if not low <= digits <= high:
        raise ValueError(f"must have {low} to {high} digits, not {digits}")
    return value


PhoneNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_phone_number),
    pydantic.Field(json_schema_extra={"pattern": PHONE_PATTERN.pattern.replace("?P<", "?<")}),
]


def _website(value: str) -> str:
    no_control_characters(value)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError("must be an http or https URL, such as https://example.com")
    return value


WebsiteUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_website),
]

FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# vCard 4.0 (--0517, RFC 6350 §4.3.1) and Google Contacts (--05-17) write a date without a
# year; the API writes --05-17.
NO_YEAR = re.compile(r"--(\d{2})-(\d{2})")


def _birthday(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        # Pydantic alone would take numbers (Unix time) for a date.
        raise ValueError("must be a date written YYYY-MM-DD, or --MM-DD without a year")
    value = value.strip()
    if full := FULL_DATE.fullmatch(value):
        try:
            born = date(*map(int, full.groups()))
        except ValueError:
            raise ValueError(f"{value} is no date of the calendar") from None
        # Not after today anywhere on Earth: the earliest time zone is UTC+14.
        if born > datetime.now(timezone(timedelta(hours=14))).date():
            raise ValueError("must not be in the future")
        return str(value)
    if month_day := NO_YEAR.fullmatch(value):
        try:
            date(2000, *map(int, month_day.groups()))  # a leap year: --02-29 is a birthday
        except ValueError:
            raise ValueError(f"{value} is no day of the year") from None
        return str(value)
    raise ValueError("must be a date written YYYY-MM-DD, or --MM-DD without a year")


Birthday = Annotated[
    str,
    BeforeValidator(_birthday),
    pydantic.Field(json_schema_extra={"pattern": r"^(\d{4}|-)-\d{2}-\d{2}$"}),
]


def birthday_parts(birthday: str) -> tuple[int, int, int | None]:
    """Month, day and year (None when unknown) of a stored birthday."""
    year, month, day = birthday.rsplit("-", 2)
    return int(month), int(day), int(year) if year.strip("-") else None


def birthday_on(birthday: str, year: int) -> date:
    """The day `birthday` falls on in `year`: 29 February is on 28 February in common years."""
    month, day, _ = birthday_parts(birthday)
    if (month, day) == (2, 29) and not isleap(year):
        day = 28
    return date(year, month, day)


def _note(value: str) -> str:
    no_control_characters(value, allowed="\n\r\t")
    # A note must come back from an export and an import as it was: vCard has no way to
    # write "\r", so line breaks are "\n".
    return value.replace("\r\n", "\n").replace("\r", "\n")


def empty_note_is_none(value: str | None) -> str | None:
    # CSV cannot tell an empty note from none: both are an empty cell.
    return value or None


Notes = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_note)]


def check_value(kind: Any, value: Any) -> Any:
    """`value` checked as one of the types above would check it in a body; ValueError with
    the words of the first problem when it breaks the rule (for the import's warnings)."""
    try:
        return _adapter(kind).validate_python(value)
    except pydantic.ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


_ADAPTERS: dict[int, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(id(kind))
    if adapter is None:
        adapter = _ADAPTERS[id(kind)] = TypeAdapter(kind)
    return adapter


# --- Columns ------------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, **kwargs)


# --- Labels -------------------------------------------------------------------------------


def _label_name(value: str) -> str:
    no_control_characters(value)
    # Files join a contact's labels with these (CSV with ";", vCard CATEGORIES with ",").
    if "," in value or ";" in value:
        raise ValueError("must not contain ',' or ';'")
    return value


LabelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(_label_name),
    pydantic.Field(json_schema_extra={"pattern": "^[^,;]+$"}),
]
LabelNames = Annotated[list[LabelName], pydantic.Field(max_length=20)]


def label_key(name: str) -> str:
    """What two names that differ only in case have in common (`Work`, `WORK`)."""
    return name.strip().casefold()


def label_sort_key(name: str) -> str:
    """The name with its accents and case taken off: `école` is `ecole`."""
    bare = "".join(
        char for char in unicodedata.normalize("NFD", name) if not unicodedata.combining(char)
    )
    return bare.casefold()


def label_order(name: str) -> tuple[str, str, str]:
    """Names in the order the API lists them: by name, case and accents aside (`école`
    between `Book club` and `Family`), the same everywhere whatever the database's collation."""
    return label_sort_key(name), name.casefold(), name


# --- Time zones -----------------------------------------------------------------------------

# The IANA names, as the tzdata package lists them (the system's zone folder also holds
# files such as "localtime" that are no zone names). Not an enum in the docs: 600 names
# weigh down the document, and generated clients cannot name "GMT+0" and "GMT-0" apart.
KNOWN_TIME_ZONES = frozenset(files("tzdata").joinpath("zones").read_text().split())


UNKNOWN_TIME_ZONE = "unknown time zone; use an IANA name such as Europe/Kyiv"


def _known_time_zone(name: str) -> str:
    if name not in KNOWN_TIME_ZONES:
        raise ValueError(UNKNOWN_TIME_ZONE)
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
