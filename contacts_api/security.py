"""Passwords and tokens: pure functions, no web framework and no database."""

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from jose import JWTError, jwt
from passlib.context import CryptContext

from contacts_api.config import get_settings
from contacts_api.models import is_usable_password

settings = get_settings()

ALGORITHM = "HS256"
# A user id as this service writes it in `sub`: what int() and an integer column accept.
USER_ID = re.compile(r"[1-9][0-9]{0,9}")
TokenType = Literal["access", "refresh"]

password_context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=settings.BCRYPT_ROUNDS)

# Verified when the email is unknown, so that an unknown email costs as much time
# as a wrong password and the two cannot be told apart.
DUMMY_HASH = password_context.hash("not the password of anybody")


def hash_password(password: str) -> str:
    return password_context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check `password`; with no hash (unknown user) spend the same time and say no."""
    if password_hash is None or not is_usable_password(password):
        password_context.verify("not the password", DUMMY_HASH)
        return False
    return password_context.verify(password, password_hash)


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or of the wrong type."""


def new_token_id() -> str:
    return uuid.uuid4().hex


def create_token(
    token_type: TokenType, user_id: int, session_id: str, token_id: str, expires_at: datetime
) -> str:
    """Sign a token of `token_type` for `user_id` in session `session_id`."""
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "jti": token_id,
        "type": token_type,
        "iat": datetime.now(UTC),
        "exp": expires_at,
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def read_token(token: str, token_type: TokenType) -> dict[str, Any]:
    """The claims of a valid token of `token_type`, else `InvalidToken`."""
    try:
        claims = jwt.decode(
            token,
            settings.SECRET_KEY,
            # Pinned: python-jose would otherwise accept any HMAC algorithm the token names.
            algorithms=[ALGORITHM],
            # python-jose accepts a token without `exp` unless told otherwise.
            options={"require_exp": True, "require_sub": True, "require_jti": True},
        )
    except (JWTError, UnicodeError) as exc:  # UnicodeError: a lone surrogate in the text
        raise InvalidToken(str(exc)) from None
    if claims.get("type") != token_type:
        raise InvalidToken(f"expected a token of type {token_type}")
    if not USER_ID.fullmatch(str(claims["sub"])) or not isinstance(claims.get("sid"), str):
        raise InvalidToken("malformed claims")
    return claims
