"""App passwords: one for each device that syncs over CardDAV, and what the API shows of them."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import ForeignKey
from sqlmodel import Field, SQLModel

from contacts_api.models.types import UTCDateTime, no_control_characters, timestamp

# How many app passwords one user may have: a device each, and a bound on the table.
MAX_APP_PASSWORDS = 50


# The `app_passwords` table. Only a hash of the password is stored, under a unique index: a
# request finds its row by the hash (security.app_password_hash says why SHA-256 suffices).
class AppPassword(SQLModel, table=True):
    __tablename__ = "app_passwords"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    name: str = Field(max_length=50)
    password_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp()
    # Written at most once a minute (dav/auth.py): not a write for every request of a sync.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


AppPasswordName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_control_characters),
]


# The body of POST /users/me/app-passwords.
class AppPasswordCreate(SQLModel):
    name: AppPasswordName = Field(
        description="Which device it is for, to know it again in the list.",
        schema_extra={"examples": ["Ann's iPhone"]},
    )


# What the API shows of an app password: never the password, nor its hash.
class AppPasswordPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


# The answer of POST: the only time the password is shown.
class AppPasswordMade(AppPasswordPublic):
    password: str = Field(
        description="Type it into the device with your email as the user name; it is not "
        "shown again. Case, dashes and spaces do not matter.",
        schema_extra={"examples": ["k3vq-8mzt-a1rc-pw0e-7hxn-d2sj-u9fb"]},
    )
