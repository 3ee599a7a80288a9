"""Every SQLModel class: the tables and their Create / Update / Public variants, one module
per entity (`types` holds the validated field types they share).

Request models validate everything a client sends; a table model is never a request body
(it skips validation and would accept `id` or `owner_id` from the client).
"""

# ruff: noqa: E402  (the naming convention comes before the modules that declare tables)

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# Stable constraint names, so that migrations can refer to them on every database. Set before
# any table is declared: the modules below are imported after it.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

from contacts_api.models.contacts import (
    BIRTHDAY_KEY,
    IN_THE_BOOK,
    IN_THE_TRASH,
    VERSION,
    Contact,
    ContactBase,
    ContactBirthday,
    ContactCreate,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    TrashedContactPublic,
    TrashPage,
    birthday_key,
    etag,
    partial_index,
)
from contacts_api.models.imports import (
    ImportReport,
    RefusedRecord,
    SkippedRecord,
)
from contacts_api.models.labels import (
    ContactLabel,
    Label,
    LabelIn,
    LabelList,
    LabelPublic,
)
from contacts_api.models.service import (
    Message,
    ServiceStatus,
)
from contacts_api.models.sessions import (
    AuthSession,
    RefreshTokenIn,
    Token,
)
from contacts_api.models.types import (
    MAX_ID,
    MAX_PASSWORD_BYTES,
    PHONE_PATTERN,
    Birthday,
    Email,
    FullName,
    LabelName,
    LabelNames,
    Name,
    Notes,
    Password,
    Phone,
    UTCDateTime,
    is_usable_password,
    label_key,
    label_order,
    no_control_characters,
    normalized_email,
    timestamp,
    utc_now,
)
from contacts_api.models.users import (
    EXAMPLE_PASSWORD,
    AccountDeletion,
    EmailToken,
    PasswordChange,
    PasswordForgotten,
    PasswordReset,
    User,
    UserBase,
    UserCreate,
    UserPublic,
    UserUpdate,
)

__all__ = [
    "BIRTHDAY_KEY",
    "EXAMPLE_PASSWORD",
    "IN_THE_BOOK",
    "IN_THE_TRASH",
    "MAX_ID",
    "MAX_PASSWORD_BYTES",
    "PHONE_PATTERN",
    "VERSION",
    "AccountDeletion",
    "AuthSession",
    "Birthday",
    "Contact",
    "ContactBase",
    "ContactBirthday",
    "ContactCreate",
    "ContactLabel",
    "ContactPage",
    "ContactPublic",
    "ContactUpdate",
    "Email",
    "EmailToken",
    "FullName",
    "ImportReport",
    "Label",
    "LabelIn",
    "LabelList",
    "LabelName",
    "LabelNames",
    "LabelPublic",
    "Message",
    "Name",
    "Notes",
    "Password",
    "PasswordChange",
    "PasswordForgotten",
    "PasswordReset",
    "Phone",
    "RefreshTokenIn",
    "RefusedRecord",
    "ServiceStatus",
    "SkippedRecord",
    "Token",
    "TrashPage",
    "TrashedContactPublic",
    "UTCDateTime",
    "User",
    "UserBase",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
    "birthday_key",
    "etag",
    "is_usable_password",
    "label_key",
    "label_order",
    "no_control_characters",
    "normalized_email",
    "partial_index",
    "timestamp",
    "utc_now",
]
