"""change log: which contacts changed, for the changes feed and CardDAV's sync-collection

`contact_changes` holds one row per contact of each user: the last time it changed, numbered
or pending (`change_id` NULL), and whether it left the book (`deleted`: trashed or deleted for
good; such a row is a tombstone until the trash's purger prunes it), and `seq`, the order of
the changes over all users (a sequence on PostgreSQL; on SQLite, whose writers take turns, the
greatest so far plus one), by which a read numbers what is pending. `sync_states` holds each
user's count of numbered changes and the horizon below which tokens are refused.

The database writes the log itself, whoever writes a contact (the API, an import, plain SQL,
a restore): triggers on `contacts` mark the contact's row pending after every INSERT, UPDATE
and DELETE. On PostgreSQL one PL/pgSQL function serves three statement-level triggers, which
see the statement's rows as a table (one INSERT of the log for an import of 10,000 contacts,
not 10,000); on SQLite three row-level triggers do the same. An UPDATE of a contact that was
and stays in the trash, and the DELETE of one that was in the trash (the purge, emptying the
trash), change nothing for a client: it heard of the contact's departure when it went to the
trash. A contact deleted with its user logs nothing.

WARNING for later migrations: on SQLite, Alembic's batch mode rebuilds a table by copying it
into a new one, and the triggers of the old table go with it. A migration that rebuilds
`contacts` on SQLite must create the three triggers again (`create_sqlite_triggers` below has
their SQL; copy it into that migration, which keeps the schema of its day);
tests/test_changes.py checks that they exist at the head.

Every contact in the book when this runs gets a pending row, so a first sync lists it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOMBSTONE = sa.text("deleted")

POSTGRESQL_FUNCTION = """
CREATE FUNCTION log_contact_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT n.owner_id, n.id, NULL, n.deleted_at IS NOT NULL, clock_timestamp(),
               nextval('contact_changes_seq'), n.uid || '.vcf'
        FROM new_rows n
        ON CONFLICT (user_id, contact_id) DO UPDATE
        SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
            seq = excluded.seq, href = excluded.href;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT n.owner_id, n.id, NULL, n.deleted_at IS NOT NULL, clock_timestamp(),
               nextval('contact_changes_seq'), n.uid || '.vcf'
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.deleted_at IS NULL OR o.deleted_at IS NULL
        ON CONFLICT (user_id, contact_id) DO UPDATE
        SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
            seq = excluded.seq, href = excluded.href;
    ELSE
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT o.owner_id, o.id, NULL, true, clock_timestamp(), nextval('contact_changes_seq'),
               o.uid || '.vcf'
        FROM old_rows o
        WHERE o.deleted_at IS NULL AND EXISTS (SELECT 1 FROM users u WHERE u.id = o.owner_id)
        ON CONFLICT (user_id, contact_id) DO UPDATE
        SET change_id = NULL, deleted = true, changed_at = excluded.changed_at,
            seq = excluded.seq;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGERS = {
    "contacts_log_insert": "AFTER INSERT ON contacts REFERENCING NEW TABLE AS new_rows",
    "contacts_log_update": "AFTER UPDATE ON contacts"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "contacts_log_delete": "AFTER DELETE ON contacts REFERENCING OLD TABLE AS old_rows",
}

# `href` is the last segment of the contact's CardDAV path. `changed_at` on SQLite is
# SQLAlchemy's text form of a timestamp, to the millisecond: what UTCDateTime reads.
SQLITE_TRIGGERS = {
    "contacts_log_insert": """
CREATE TRIGGER contacts_log_insert AFTER INSERT ON contacts
BEGIN
    INSERT INTO contact_changes
        (user_id, contact_id, change_id, deleted, changed_at, seq, href)
    VALUES (NEW.owner_id, NEW.id, NULL, NEW.deleted_at IS NOT NULL,
            strftime('%Y-%m-%d %H:%M:%f', 'now') || '000',
            (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes), NEW.uid || '.vcf')
    ON CONFLICT (user_id, contact_id) DO UPDATE
    SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
        seq = excluded.seq, href = excluded.href;
END""",
    "contacts_log_update": """
CREATE TRIGGER contacts_log_update AFTER UPDATE ON contacts
WHEN NEW.deleted_at IS NULL OR OLD.deleted_at IS NULL
BEGIN
    INSERT INTO contact_changes
        (user_id, contact_id, change_id, deleted, changed_at, seq, href)
    VALUES (NEW.owner_id, NEW.id, NULL, NEW.deleted_at IS NOT NULL,
            strftime('%Y-%m-%d %H:%M:%f', 'now') || '000',
            (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes), NEW.uid || '.vcf')
    ON CONFLICT (user_id, contact_id) DO UPDATE
    SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
        seq = excluded.seq, href = excluded.href;
END""",
    # INSERT ... SELECT with a WHERE: SQLite's grammar needs one before ON CONFLICT.
    "contacts_log_delete": """
CREATE TRIGGER contacts_log_delete AFTER DELETE ON contacts
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO contact_changes
        (user_id, contact_id, change_id, deleted, changed_at, seq, href)
    SELECT OLD.owner_id, OLD.id, NULL, 1, strftime('%Y-%m-%d %H:%M:%f', 'now') || '000',
           (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes), OLD.uid || '.vcf'
    WHERE EXISTS (SELECT 1 FROM users WHERE users.id = OLD.owner_id)
    ON CONFLICT (user_id, contact_id) DO UPDATE
    SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
        seq = excluded.seq, href = excluded.href;
END""",
}


def upgrade() -> None:
    op.create_table(
        "contact_changes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("href", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_contact_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "contact_id", name=op.f("pk_contact_changes")),
    )
    op.create_index(
        op.f("ix_contact_changes_user_id_change_id"), "contact_changes", ["user_id", "change_id"]
    )
    op.create_index(op.f("ix_contact_changes_seq"), "contact_changes", ["seq"])
    op.create_index(
        op.f("ix_contact_changes_changed_at"),
        "contact_changes",
        ["changed_at"],
        postgresql_where=TOMBSTONE,
        sqlite_where=TOMBSTONE,
    )
    op.create_table(
        "sync_states",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_change", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("horizon", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sync_states_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sync_states")),
    )
    # The book as it is: every contact pending, in the order it last changed.
    op.execute(
        """
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT owner_id, id, NULL, false, updated_at,
               row_number() OVER (ORDER BY updated_at, id), uid || '.vcf'
        FROM contacts WHERE deleted_at IS NULL
        """
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE contact_changes_seq AS bigint")
        op.execute(
            "SELECT setval('contact_changes_seq', (SELECT count(*) + 1 FROM contact_changes),"
            " false)"
        )
        op.execute(POSTGRESQL_FUNCTION)
        for name, when in POSTGRESQL_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT"
                " EXECUTE FUNCTION log_contact_changes()"
            )
    else:
        create_sqlite_triggers()


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    for name in POSTGRESQL_TRIGGERS:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON contacts")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION log_contact_changes()")
        op.execute("DROP SEQUENCE contact_changes_seq")
    op.drop_table("sync_states")
    op.drop_index(op.f("ix_contact_changes_changed_at"), table_name="contact_changes")
    op.drop_index(op.f("ix_contact_changes_seq"), table_name="contact_changes")
    op.drop_index(op.f("ix_contact_changes_user_id_change_id"), table_name="contact_changes")
    op.drop_table("contact_changes")
