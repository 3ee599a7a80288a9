"""Alembic environment: the models' metadata and the database of DATABASE_URL."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import contacts_api.models  # noqa: F401  (registers the tables on the metadata)
from contacts_api.config import DatabaseSettings, database_url

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
# Tests pass their own URL through the Alembic config; everyone else sets DATABASE_URL.
url = config.get_main_option("sqlalchemy.url") or DatabaseSettings().DATABASE_URL


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The trigram indexes exist on PostgreSQL only (migration 0002), not in the models:
    # leave them out when `alembic check` compares the two. So is the index on a card's
    # CardDAV name, an expression that PostgreSQL reflects in its own words (casts added),
    # which never compare equal to the model's text.
    if type_ != "index" or name is None:
        return True
    return not (name.endswith("_trgm") or name in EXPRESSION_INDEXES)


EXPRESSION_INDEXES = {"ix_contacts_owner_id_dav_href"}


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(url, asynchronous=False),
        target_metadata=SQLModel.metadata,
        include_object=include_object,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(url, asynchronous=False))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            include_object=include_object,
            # SQLite can only change a table by copying it; batch mode does that.
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
