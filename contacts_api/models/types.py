"""The validated field types and column types that the models share."""

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

import pydantic
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, EmailStr, StringConstraints
from sqlalchemy import (
    DateTime,
    Dialect,
    TypeDecorator,
)
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


def _note(value: str) -> str:
    no_control_characters(value, allowed="\n\r\t")
    # A note must come back from an export and an import as it was: vCard has no way to
    # write "\r", so line breaks are "\n". (And an empty note is none: see ContactBase.)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _empty_note_is_none(value: str | None) -> str | None:
    # CSV cannot tell an empty note from none: both are an empty cell.
    return value or None


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


# 7 to 15 digits, an optional leading "+", and the usual separators between them.
PHONE_PATTERN = re.compile(r"^\+?[ .()\-]*(?:[0-9][ .()\-]*){7,15}$")


def _phone_number(value: str) -> str:
    if not PHONE_PATTERN.fullmatch(value):
        if not re.fullmatch(r"\+?[0-9 .()\-]*", value):
            raise ValueError("use digits with an optional leading +, spaces, '-', '.', '(' and ')'")
        digits = sum(char.isdigit() for char in value)
        raise ValueError(f"must have 7 to 15 digits, not {digits}")
    return value


def _iso_date_text(value: Any) -> Any:
    # Pydantic alone would also take numbers (Unix time) and datetimes for a date.
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _not_in_the_future(value: date) -> date:
    # Not after today anywhere on Earth: the earliest time zone is UTC+14.
    if value > datetime.now(timezone(timedelta(hours=14))).date():
        raise ValueError("must not be in the future")
    return value


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
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_control_characters),
]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_control_characters),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=32),
    AfterValidator(_phone_number),
    pydantic.Field(json_schema_extra={"pattern": PHONE_PATTERN.pattern}),
]
Birthday = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_not_in_the_future)]
Notes = Annotated[
    str,
    StringConstraints(max_length=1000),
    AfterValidator(_note),
]
Password = Annotated[str, StringConstraints(min_length=8), AfterValidator(_fits_bcrypt)]


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


def label_order(name: str) -> tuple[str, str, str]:
    """Names in the order the API lists them: by name, case and accents aside (`école`
    between `Book club` and `Family`), the same everywhere whatever the database's collation."""
    bare = "".join(
        char for char in unicodedata.normalize("NFD", name) if not unicodedata.combining(char)
    )
    return bare.casefold(), name.casefold(), name
