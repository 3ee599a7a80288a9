"""contacts as people keep them: a name is enough; lists of emails, phones, addresses, websites

Every existing contact moves over with nothing lost: its email and phone become the first
entries of `emails` and `phones`, its birthday keeps its year (as text, `YYYY-MM-DD`, beside
`--MM-DD` for birthdays without one), it gets a vCard UID, and its version goes up by one, so
its ETag changes once. First and last name become optional; `company`, `job_title`, the vCard
properties kept from imports (`kept_properties`) and the list order's key (`sort_name`, a
generated column) are new; labels get the key that orders them (`sort_key`). A second contact
may share an email: the unique index goes.

Search looks into the lists through expressions that PostgreSQL indexes (trigrams): the
addresses of `emails`, and the digits of `phones` (extensions left out), each number apart
from the next by a comma so that no match spans two numbers. SQLite has no such index: it
computes the same text when it searches.

SQLite cannot change a column's type or make it nullable in place: there the table is copied
into a new one, as its documentation says (create, copy, drop, rename).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_THE_BOOK = sa.text("deleted_at IS NULL")
IN_THE_TRASH = sa.text("deleted_at IS NOT NULL")
# Written out here, not imported from the models: a migration keeps the schema of its day.
BIRTHDAY_KEY = (
    "CAST(substr(birthday, length(birthday) - 4, 2) AS INTEGER) * 100"
    " + CAST(substr(birthday, length(birthday) - 1, 2) AS INTEGER)"
)
SORT_NAME = "coalesce(last_name, first_name, company)"
# The texts that search looks into, as contacts_api/models/contact_search.py writes them.
EMAILS_TEXT = "(jsonb_path_query_array(emails::jsonb, '$[*].address')::text)"
PHONE_DIGITS = (
    "(regexp_replace(jsonb_path_query_array(phones::jsonb, '$[*].number')::text,"
    " '(x|ext|;)[^\"]*|[^0-9,]', '', 'gi'))"
)
TRIGRAM_INDEXES = {
    "ix_contacts_company_trgm": "company",
    "ix_contacts_emails_trgm": EMAILS_TEXT,
    "ix_contacts_phone_digits_trgm": PHONE_DIGITS,
}
LIST_INDEX = (
    "ix_contacts_owner_id_sort_name_first_name_id",
    ["owner_id", "sort_name", "first_name", "id"],
)
OLD_LIST_INDEX = (
    "ix_contacts_owner_id_last_name_first_name_id",
    ["owner_id", "last_name", "first_name", "id"],
)
BIRTHDAY_INDEX = ("ix_contacts_owner_id_birthday_key", ["owner_id", "birthday_key"])
TRASH_INDEXES = {
    "ix_contacts_owner_id_deleted_at_id": ["owner_id", "deleted_at", "id"],
    "ix_contacts_deleted_at": ["deleted_at"],
}


def _book_index(name: str, columns: list[str], *, unique: bool = False) -> None:
    """An index of the contacts in the book only (partial), on both databases."""
    op.create_index(
        name,
        "contacts",
        columns,
        unique=unique,
        postgresql_where=IN_THE_BOOK,
        sqlite_where=IN_THE_BOOK,
    )


def upgrade() -> None:
    _label_sort_keys()
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    _book_index(*LIST_INDEX)
    _book_index(*BIRTHDAY_INDEX)


def _upgrade_postgresql() -> None:
    for name in ("ix_contacts_owner_id_email", OLD_LIST_INDEX[0], BIRTHDAY_INDEX[0]):
        op.drop_index(name, "contacts")
    op.execute("ALTER TABLE contacts DROP COLUMN birthday_key")
    op.execute(
        "ALTER TABLE contacts"
        " ALTER COLUMN first_name DROP NOT NULL,"
        " ALTER COLUMN last_name DROP NOT NULL,"
        " ALTER COLUMN birthday DROP NOT NULL,"
        " ALTER COLUMN birthday TYPE VARCHAR(10) USING to_char(birthday, 'YYYY-MM-DD'),"
        " ALTER COLUMN notes TYPE TEXT,"
        " ADD COLUMN company VARCHAR(100),"
        " ADD COLUMN job_title VARCHAR(100),"
        " ADD COLUMN emails JSON DEFAULT '[]' NOT NULL,"
        " ADD COLUMN phones JSON DEFAULT '[]' NOT NULL,"
        " ADD COLUMN addresses JSON DEFAULT '[]' NOT NULL,"
        " ADD COLUMN websites JSON DEFAULT '[]' NOT NULL,"
        " ADD COLUMN uid VARCHAR(255),"
        " ADD COLUMN kept_properties TEXT"
    )
    # The JSON written as the app writes it (no spaces), each value escaped by to_json. (The
    # backslash keeps SQLAlchemy from reading ":null" as a parameter.)
    op.execute(
        "UPDATE contacts SET"
        " emails = ('[{\"address\":' || to_json(email)::text || ',\"label\"\\:null}]')::json,"
        " phones = ('[{\"number\":' || to_json(phone)::text || ',\"label\"\\:null}]')::json,"
        " uid = 'urn:uuid:' || gen_random_uuid(),"
        " version = version + 1"
    )
    op.execute(
        "ALTER TABLE contacts"
        " ALTER COLUMN uid SET NOT NULL,"
        # A row written by plain SQL without a UID gets one, as every card needs it.
        " ALTER COLUMN uid SET DEFAULT 'urn:uuid:' || gen_random_uuid(),"
        " DROP COLUMN email,"
        " DROP COLUMN phone,"
        f" ADD COLUMN sort_name VARCHAR(100) GENERATED ALWAYS AS ({SORT_NAME}) STORED,"
        f" ADD COLUMN birthday_key INTEGER GENERATED ALWAYS AS ({BIRTHDAY_KEY}) STORED"
    )
    for name, expression in TRIGRAM_INDEXES.items():
        # fastupdate off, as for the name indexes (migration 0003): a new entry is found at once.
        op.execute(
            f"CREATE INDEX {name} ON contacts USING gin ({expression} gin_trgm_ops)"
            " WITH (fastupdate = off)"
        )


# A version 4 UUID from SQLite's random bytes (SQLite has no UUID function).
SQLITE_UUID = (
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'"
    " || substr(lower(hex(randomblob(2))), 2) || '-'"
    " || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2)"
    " || '-' || lower(hex(randomblob(6)))"
)


def _label_sort_keys() -> None:
    # Labels get the key that orders them (the name, accents and case aside), computed as the
    # app computes it (contacts_api.models.types.label_sort_key, written out here).
    op.add_column(
        "labels", sa.Column("sort_key", sa.String(length=200), server_default="", nullable=False)
    )
    labels = sa.table("labels", sa.column("id"), sa.column("name"), sa.column("sort_key"))
    rows = op.get_bind().execute(sa.select(labels.c.id, labels.c.name)).all()
    for label_id, name in rows:
        bare = "".join(
            char for char in unicodedata.normalize("NFD", name) if not unicodedata.combining(char)
        )
        op.execute(labels.update().where(labels.c.id == label_id).values(sort_key=bare.casefold()))


# The table as this revision leaves it, for SQLite's copy.
def _new_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=50), nullable=True),
        sa.Column("last_name", sa.String(length=50), nullable=True),
        sa.Column("company", sa.String(length=100), nullable=True),
        sa.Column("job_title", sa.String(length=100), nullable=True),
        *(
            sa.Column(column, sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
            for column in ("emails", "phones", "addresses", "websites")
        ),
        sa.Column("birthday", sa.String(length=10), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("favorite", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "uid",
            sa.String(length=255),
            server_default=sa.text(f"('urn:uuid:' || {SQLITE_UUID})"),
            nullable=False,
        ),
        sa.Column("kept_properties", sa.Text(), nullable=True),
        sa.Column("sort_name", sa.String(length=100), sa.Computed(SORT_NAME, persisted=True)),
        sa.Column("birthday_key", sa.Integer(), sa.Computed(BIRTHDAY_KEY, persisted=True)),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_contacts_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )


def _upgrade_sqlite() -> None:
    _new_table("contacts_new")
    uid = f"'urn:uuid:' || {SQLITE_UUID}"
    op.execute(
        # A statement of constants only.
        "INSERT INTO contacts_new (id, owner_id, first_name, last_name, emails, phones,"  # noqa: S608
        " birthday, notes, favorite, uid, version, created_at, updated_at, deleted_at)"
        " SELECT id, owner_id, first_name, last_name,"
        " json_array(json_object('address', email, 'label', NULL)),"
        " json_array(json_object('number', phone, 'label', NULL)),"
        " birthday, notes, favorite, " + uid + ", version + 1,"
        " created_at, updated_at, deleted_at FROM contacts"
    )
    _replace_sqlite_table()


def _replace_sqlite_table() -> None:
    # The pairs of contact_labels refer to `contacts` by name: after the rename they refer to
    # the new table. (Alembic's connection does not enforce foreign keys on SQLite, so dropping
    # the old table deletes no pairs.)
    op.execute("DROP TABLE contacts")
    op.execute("ALTER TABLE contacts_new RENAME TO contacts")
    for name, columns in TRASH_INDEXES.items():
        op.create_index(name, "contacts", columns, sqlite_where=IN_THE_TRASH)


def downgrade() -> None:
    # The first model cannot hold every contact of this one: a contact without a first and a
    # last name, an email, a phone or a birthday with its year, and a second contact with the
    # email of another one in the book, are deleted. Nothing else is lost but the new fields.
    op.execute(
        "DELETE FROM contacts WHERE first_name IS NULL OR last_name IS NULL"
        " OR birthday IS NULL OR birthday LIKE '--%'"
        " OR emails::text = '[]' OR phones::text = '[]'"
        if op.get_bind().dialect.name == "postgresql"
        else "DELETE FROM contacts WHERE first_name IS NULL OR last_name IS NULL"
        " OR birthday IS NULL OR birthday LIKE '--%'"
        " OR json_array_length(emails) = 0 OR json_array_length(phones) = 0"
    )
    op.drop_index(LIST_INDEX[0], "contacts")
    op.drop_index(BIRTHDAY_INDEX[0], "contacts")
    _drop_label_sort_keys()
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
    else:
        _downgrade_sqlite()
    _book_index("ix_contacts_owner_id_email", ["owner_id", "email"], unique=True)
    _book_index(*OLD_LIST_INDEX)
    _book_index(*BIRTHDAY_INDEX)


def _drop_label_sort_keys() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE labels DROP COLUMN sort_key")
    else:
        op.drop_column("labels", "sort_key")


def _downgrade_postgresql() -> None:
    for name in TRIGRAM_INDEXES:
        op.drop_index(name, "contacts")
    op.execute(
        "ALTER TABLE contacts DROP COLUMN birthday_key, DROP COLUMN sort_name,"
        " ADD COLUMN email VARCHAR(254), ADD COLUMN phone VARCHAR(32)"
    )
    op.execute(
        "UPDATE contacts SET email = emails -> 0 ->> 'address', phone = phones -> 0 ->> 'number'"
    )
    # Of the contacts that share an email in the book, the oldest keeps it.
    op.execute(
        "DELETE FROM contacts c USING contacts o WHERE c.deleted_at IS NULL"
        " AND o.deleted_at IS NULL AND o.owner_id = c.owner_id AND o.email = c.email"
        " AND o.id < c.id"
    )
    op.execute(
        "ALTER TABLE contacts"
        " DROP COLUMN company, DROP COLUMN job_title, DROP COLUMN emails, DROP COLUMN phones,"
        " DROP COLUMN addresses, DROP COLUMN websites, DROP COLUMN uid,"
        " DROP COLUMN kept_properties,"
        " ALTER COLUMN email SET NOT NULL, ALTER COLUMN phone SET NOT NULL,"
        " ALTER COLUMN first_name SET NOT NULL, ALTER COLUMN last_name SET NOT NULL,"
        " ALTER COLUMN birthday TYPE DATE USING birthday::date,"
        " ALTER COLUMN birthday SET NOT NULL,"
        " ALTER COLUMN notes TYPE VARCHAR(1000) USING left(notes, 1000),"
        " ADD COLUMN birthday_key INTEGER GENERATED ALWAYS AS"
        " (EXTRACT(month FROM birthday) * 100 + EXTRACT(day FROM birthday)) STORED NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_contacts_email_trgm ON contacts USING gin (email gin_trgm_ops)"
        " WITH (fastupdate = off)"
    )


def _downgrade_sqlite() -> None:
    op.create_table(
        "contacts_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=50), nullable=False),
        sa.Column("last_name", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("birthday", sa.Date(), nullable=False),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.Column(
            "birthday_key",
            sa.Integer(),
            sa.Computed(
                "CAST(STRFTIME('%m', birthday) AS INTEGER) * 100"
                " + CAST(STRFTIME('%d', birthday) AS INTEGER)",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("favorite", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_contacts_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    # Of the contacts that share an email in the book, the oldest keeps it.
    op.execute(
        "INSERT INTO contacts_new (id, owner_id, first_name, last_name, email, phone, birthday,"
        " notes, created_at, updated_at, favorite, version, deleted_at)"
        " SELECT id, owner_id, first_name, last_name, json_extract(emails, '$[0].address'),"
        " json_extract(phones, '$[0].number'), birthday, substr(notes, 1, 1000), created_at,"
        " updated_at, favorite, version, deleted_at FROM contacts c"
        " WHERE c.deleted_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM contacts o"
        " WHERE o.deleted_at IS NULL AND o.owner_id = c.owner_id AND o.id < c.id"
        " AND json_extract(o.emails, '$[0].address') = json_extract(c.emails, '$[0].address'))"
    )
    op.execute("DELETE FROM contact_labels WHERE contact_id NOT IN (SELECT id FROM contacts_new)")
    _replace_sqlite_table()
