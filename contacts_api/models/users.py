"""Users: the table, the signup body, what the API shows, and the account's bodies."""

from datetime import datetime
from typing import Annotated

import pydantic
from pydantic import AfterValidator, StringConstraints
from sqlalchemy import (
    false,
)
from sqlmodel import Field, SQLModel

from contacts_api.models.types import (
    Email,
    FullName,
    Password,
    no_control_characters,
    timestamp,
)


# Fields a client may send about themselves.
class UserBase(SQLModel):
    email: Email = Field(max_length=254, schema_extra={"examples": ["ann@example.com"]})
    full_name: FullName | None = Field(
        default=None, max_length=100, schema_extra={"examples": ["Ann Smith"]}
    )


# The `users` table.
class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: Email = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    # True once a message sent to `email` came back through its link (or a reset).
    email_verified: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Counts the changes of `email`. The tokens of messages are bound to it, so that a token
    # of an earlier address stays dead even when the account changes back to that address.
    email_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = timestamp()


# Examples in the docs, which Swagger UI fills in for "Try it out".
EXAMPLE_PASSWORD = "correct horse battery"


# The signup body.
class UserCreate(UserBase):
    password: Password = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})


# What the API shows of a user: never the password hash. Plain types, like ContactPublic.
class UserPublic(SQLModel):
    id: int
    email: str = Field(schema_extra={"json_schema_extra": {"format": "email"}})
    full_name: str | None
    email_verified: bool
    created_at: datetime


# The password change body.
class PasswordChange(SQLModel):
    current_password: str = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})
    new_password: Password = Field(schema_extra={"examples": ["battery staple horse"]})


# --- The account: changes, verification, recovery ---------------------------------------------


# The PATCH /users/me body: a new name freely; a new email only with the current password.
class UserUpdate(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"full_name": "Ann Lee-Smith"}]}}

    full_name: FullName | None = Field(default=None, max_length=100)
    email: Email | None = Field(default=None, max_length=254)
    current_password: str | None = None

    @pydantic.model_validator(mode="after")
    def _email_needs_the_password(self) -> "UserUpdate":
        if self.email is not None and self.current_password is None:
            raise ValueError("changing the email needs current_password")
        return self


# The DELETE /users/me body.
class AccountDeletion(SQLModel):
    current_password: str = Field(schema_extra={"examples": [EXAMPLE_PASSWORD]})


# The token a message's link carries, for POST /auth/verify-email.
class EmailToken(SQLModel):
    token: str = Field(schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]})


# The forgot-password body.
class PasswordForgotten(SQLModel):
    # Any text: an address nobody has is answered like a registered one, so it need not be
    # valid either (and a 422 for it would tell nothing, but cost a test of its own).
    # Trimmed first, like every email: a pasted address with a trailing tab or line break is
    # still that address.
    email: Annotated[
        str, StringConstraints(strip_whitespace=True), AfterValidator(no_control_characters)
    ] = Field(max_length=320, schema_extra={"examples": ["ann@example.com"]})


# The reset-password body.
class PasswordReset(SQLModel):
    token: str = Field(schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]})
    new_password: Password = Field(schema_extra={"examples": ["battery staple horse"]})
