"""Sessions: one login each, and the tokens of the token endpoint."""

from datetime import datetime
from typing import Literal

from sqlalchemy import (
    ForeignKey,
)
from sqlmodel import Field, SQLModel

from contacts_api.models.types import (
    UTCDateTime,
    timestamp,
)


# One login: its refresh token rotates, and revoking it ends its access tokens too.
class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    # The `jti` of the one refresh token of this session that may still be used.
    refresh_token_id: str = Field(max_length=32)
    created_at: datetime = timestamp()
    # Fixed at login: rotating the refresh token does not extend the session.
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The token endpoint's answer (RFC 6749 §5.1).
class Token(SQLModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


# The logout body.
class RefreshTokenIn(SQLModel):
    refresh_token: str = Field(
        schema_extra={"examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]}
    )
