"""Settings, read once from the environment and an optional `.env` file.

This is the only module that reads the environment. Names match the contract exactly.
"""

import os
from functools import cache, cached_property

from pydantic import Field, ValidationError, field_validator
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
    CORS_ORIGINS: str = ""
    LOG_FORMAT: str = Field(default="text", pattern="^(text|json)$")
    METRICS_ENABLED: bool = True

    @field_validator("SECRET_KEY")
    @classmethod
    def _not_a_placeholder(cls, value: str) -> str:
        if len(set(value)) < 8:
            raise ValueError(f"SECRET_KEY looks like a placeholder; {SECRET_KEY_HINT}")
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
