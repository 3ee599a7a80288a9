"""Settings, read once from the environment and an optional `.env` file.

This is the only module that reads the environment. Names match the contract exactly.
"""

import os
from email.utils import parseaddr
from functools import cache, cached_property
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL, make_url

SECRET_KEY_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"

# The file of settings beside the environment: `.env` in the current folder, unless
# CONTACTS_API_ENV_FILE names another one, or is empty for none at all. The tests set it
# empty, so that a developer's `.env` (a REDIS_URL, a token lifetime) never changes what
# they check.
ENV_FILE = os.environ.get("CONTACTS_API_ENV_FILE", ".env") or None


# What the migrations need: only the database. Alembic reads this, so that
# `alembic upgrade head` runs without the signing key.
class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    DATABASE_URL: str = "sqlite:///./contacts.db"


# Everything the running service needs.
class Settings(DatabaseSettings):
    SECRET_KEY: str = Field(min_length=32)
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=15, ge=1)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=7, ge=1)
    # 4 is bcrypt's minimum (tests use it); 12 is the production cost.
    BCRYPT_ROUNDS: int = Field(default=12, ge=4, le=31)
    REDIS_URL: str | None = None
    LOGIN_ATTEMPTS_PER_MINUTE: int = Field(default=10, ge=1)
    TOKEN_REQUESTS_PER_MINUTE: int = Field(default=60, ge=1)
    SIGNUPS_PER_HOUR: int = Field(default=20, ge=1)
    MAX_BODY_BYTES: int = Field(default=1_048_576, ge=1)
    # The largest file POST /api/contacts/import takes: phone exports with photos run to
    # megabytes (every other request keeps MAX_BODY_BYTES).
    MAX_IMPORT_BYTES: int = Field(default=20_971_520, ge=1)
    CORS_ORIGINS: str = ""
    LOG_FORMAT: str = Field(default="text", pattern="^(text|json)$")
    METRICS_ENABLED: bool = True
    # Mail (contacts_api/mail.py). Without SMTP_HOST every message goes to the log instead.
    # By default the server itself, on the port that `make run PORT=...` and serve.sh listen
    # on. PORT is read from the environment only, as they read it: in `.env` it would move the
    # links but not the server.
    PUBLIC_URL: str = Field(
        default_factory=lambda: f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
    )
    SMTP_HOST: str | None = None
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    SMTP_USERNAME: str | None = None
    # A SecretStr, so that a repr of the settings (a traceback, a debugger) never shows it.
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_SECURITY: Literal["starttls", "tls", "none"] = "starttls"
    MAIL_FROM: str = "contacts_api <no-reply@localhost>"
    # How long the outbox retries a message that the mail server does not take, and the first
    # of its growing delays (contacts_api/outbox.py); the contract wants it within a minute.
    MAIL_RETRY_HOURS: int = Field(default=24, ge=1)
    MAIL_RETRY_FIRST_SECONDS: float = Field(default=30.0, gt=0, le=60)
    # Accounts: verification, recovery, the trash.
    REQUIRE_VERIFIED_EMAIL: bool = False
    VERIFY_TOKEN_EXPIRE_HOURS: int = Field(default=48, ge=1)
    RESET_TOKEN_EXPIRE_MINUTES: int = Field(default=60, ge=1)
    EMAILS_PER_HOUR: int = Field(default=5, ge=1)
    TRASH_RETENTION_DAYS: int = Field(default=30, ge=1)
    # How often the birthday reminders' run looks for users whose hour has come
    # (contacts_api/reminders.py): how late after the hour a message may go out.
    REMINDERS_EVERY_SECONDS: int = Field(default=300, ge=1, le=3600)

    @field_validator("SECRET_KEY")
    @classmethod
    def _not_a_placeholder(cls, value: str) -> str:
        if len(set(value)) < 8:
            raise ValueError(f"SECRET_KEY looks like a placeholder; {SECRET_KEY_HINT}")
        return value

    # `SMTP_HOST=` in a .env (a line uncommented from .env.example) means "no mail server",
    # not a server named "".
    @field_validator("SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    # Links in messages are `{PUBLIC_URL}/verify-email?...`: one without a scheme would not be
    # clickable, and a trailing slash would double the one the link adds.
    @field_validator("PUBLIC_URL")
    @classmethod
    def _a_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_URL must start with http:// or https://")
        return value.rstrip("/")

    # Checked at start: a sender without an address would fail every message, one by one.
    @field_validator("MAIL_FROM")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("MAIL_FROM must hold an email address, e.g. App <app@example.com>")
        return value

    @cached_property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.CORS_ORIGINS.split(",") if origin.strip()]


# One URL in the settings serves both worlds: Alembic uses the synchronous driver,
# the app the asynchronous one of the same database.
SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def database_url(url: str, *, asynchronous: bool) -> URL:
    """`url` with the driver this project installs for its backend (psycopg, sqlite)."""
    parsed = make_url(url)
    drivers = ASYNC_DRIVERS if asynchronous else SYNC_DRIVERS
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise SystemExit(f"DATABASE_URL must be a PostgreSQL or SQLite URL, not {backend!r}")
    return parsed.set(drivername=drivers[backend])


@cache
def get_settings() -> Settings:
    """The settings, read once; a process with invalid settings stops and says why."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        hint = ""
        if any(error["loc"][0] == "SECRET_KEY" for error in exc.errors()):
            hint = f"\nSECRET_KEY is required, at least 32 characters; {SECRET_KEY_HINT}"
        raise SystemExit(
            f"contacts_api cannot start, invalid settings:\n{problems}{hint}"
        ) from None
