"""Passwords and tokens: pure functions, no web framework and no database."""

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from jose import JWTError, jwt
from passlib.context import CryptContext

from contacts_api.config import get_settings
from contacts_api.models import is_usable_password

settings = get_settings()
T = TypeVar("T")

ALGORITHM = "HS256"
# A user id as this service writes it in `sub`: what int() and an integer column accept.
USER_ID = re.compile(r"[1-9][0-9]{0,9}")
TokenType = Literal["access", "refresh"]
# Tokens that a message carries, each good for one thing only.
Purpose = Literal["verify_email", "reset_password"]

password_context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=settings.BCRYPT_ROUNDS)

# Verified when the email is unknown, so that an unknown email costs as much time
# as a wrong password and the two cannot be told apart.
DUMMY_HASH = password_context.hash("not the password of anybody")


# bcrypt is CPU work: more hashes at once than there are cores only slows each of them, and
# forty threads hashing would starve the event loop that serves every other request. So
# hashes run in threads of their own, never on the loop, and at most one per core at a time.
#
# The hashing threads also run at a lower CPU priority than the event loop (Linux sets the
# priority per thread): while 32 logins hash, other requests get the CPU first (p99 of GET
# one contact 4.2 times its idle value before, 1.2 times after), and logins still have every
# cycle left over.
def _lower_priority() -> None:
    if sys.platform != "linux":  # elsewhere nice() would lower the whole process
        return
    # A sandbox may forbid it: then hash at normal priority rather than fail (an initializer
    # that raises breaks the executor, and every login after it).
    with contextlib.suppress(OSError):
        os.nice(10)


BCRYPT_THREADS = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="bcrypt", initializer=_lower_priority
)


async def in_bcrypt_slot(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(BCRYPT_THREADS, function, *args)


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
    claims = _claims(token, token_type)
    if not isinstance(claims.get("sid"), str):
        raise InvalidToken("malformed claims")
    return claims


def _claims(token: str, token_type: TokenType | Purpose) -> dict[str, Any]:
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
    if not USER_ID.fullmatch(str(claims["sub"])):
        raise InvalidToken("malformed claims")
    return claims


# --- Tokens in messages ---------------------------------------------------------------------
#
# A verification or reset token is bound to the state it may change, not stored: it carries a
# digest of the email it was sent to (verification) or of the password hash it may replace
# (reset). A token dies as soon as that state changes, by whatever route: a changed email kills
# its verification tokens, and any new password (a reset, a change) gets a new hash with a new
# salt, which kills every reset token issued before it, the one just used included. No table
# of tokens to write, clean up or look up.


def state_digest(state: str) -> str:
    """A short digest of `state` (an email, a password hash) for a token to be bound to; the
    hash itself never leaves the database."""
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def create_purpose_token(purpose: Purpose, user_id: int, state: str, expires_at: datetime) -> str:
    """Sign a token of `purpose` for `user_id`, valid while the user's `state` is unchanged."""
    claims = {
        "sub": str(user_id),
        "jti": new_token_id(),
        "type": purpose,
        "state": state_digest(state),
        "iat": datetime.now(UTC),
        "exp": expires_at,
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def read_purpose_token(token: str, purpose: Purpose) -> tuple[int, str]:
    """The user id and the state digest of a valid token of `purpose`, else `InvalidToken`
    (an access, refresh or other purpose's token included)."""
    claims = _claims(token, purpose)
    if not isinstance(claims.get("state"), str):
        raise InvalidToken("malformed claims")
    return int(claims["sub"]), claims["state"]


# --- App passwords ------------------------------------------------------------------------
#
# A CardDAV client sends its app password with every request (HTTP Basic), so checking one
# must cost microseconds, not bcrypt's 0.2 s. It can: the service makes the password, 28
# characters drawn at random from 36 (about 144 bits), and nobody can guess a value of that
# many bits whose SHA-256 they would then find; a slow hash only slows guessing of the short,
# chosen passwords that people make. The hash is looked up under a unique index: the lookup
# compares no secret byte by byte, so its timing tells nothing.

APP_PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
APP_PASSWORD_GROUPS = 7
APP_PASSWORD_GROUP_LENGTH = 4
# What a person may type between and around the groups: spaces, dashes, any case.
_APP_PASSWORD_SEPARATORS = re.compile(r"[\s-]+")


def new_app_password() -> str:
    """A new app password: seven groups of four lower-case letters and digits, `-` between."""
    groups = (
        "".join(secrets.choice(APP_PASSWORD_ALPHABET) for _ in range(APP_PASSWORD_GROUP_LENGTH))
        for _ in range(APP_PASSWORD_GROUPS)
    )
    return "-".join(groups)


def app_password_hash(password: str) -> str:
    """The stored form of an app password as a person typed it: case, dashes and spaces do
    not count (`ABCD efgh-...` is `abcd-efgh-...`); SHA-256 in hex."""
    normal = _APP_PASSWORD_SEPARATORS.sub("", password).lower()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()
