"""change log: the CardDAV name of a contact that leaves the book is the one it had

Migration 0014 gave contacts `dav_name`, the name the device that made a card chose for it; a
card's name is `coalesce(dav_name, uid || '.vcf')`. The change log's triggers (migration 0013)
now keep that name in `contact_changes.href`, so that sync-collection reports a card deleted for
good under the name the device knows it by; the rows written before get it too.

SQLite's triggers are dropped and made again with the new text (SQLite cannot replace one in
place); PostgreSQL's function is replaced. The WARNING of migration 0013 holds for this text:
a migration that rebuilds `contacts` on SQLite must create these triggers again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION log_contact_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT n.owner_id, n.id, NULL, n.deleted_at IS NOT NULL, clock_timestamp(),
               nextval('contact_changes_seq'), coalesce(n.dav_name, n.uid || '.vcf')
        FROM new_rows n
        ON CONFLICT (user_id, contact_id) DO UPDATE
        SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
            seq = excluded.seq, href = excluded.href;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT n.owner_id, n.id, NULL, n.deleted_at IS NOT NULL, clock_timestamp(),
               nextval('contact_changes_seq'), coalesce(n.dav_name, n.uid || '.vcf')
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.deleted_at IS NULL OR o.deleted_at IS NULL
        ON CONFLICT (user_id, contact_id) DO UPDATE
        SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
            seq = excluded.seq, href = excluded.href;
    ELSE
        INSERT INTO contact_changes
            (user_id, contact_id, change_id, deleted, changed_at, seq, href)
        SELECT o.owner_id, o.id, NULL, true, clock_timestamp(), nextval('contact_changes_seq'),
               coalesce(o.dav_name, o.uid || '.vcf')
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
            (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes),
            coalesce(NEW.dav_name, NEW.uid || '.vcf'))
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
            (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes),
            coalesce(NEW.dav_name, NEW.uid || '.vcf'))
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
           (SELECT coalesce(max(seq), 0) + 1 FROM contact_changes),
            coalesce(OLD.dav_name, OLD.uid || '.vcf')
    WHERE EXISTS (SELECT 1 FROM users WHERE users.id = OLD.owner_id)
    ON CONFLICT (user_id, contact_id) DO UPDATE
    SET change_id = NULL, deleted = excluded.deleted, changed_at = excluded.changed_at,
        seq = excluded.seq, href = excluded.href;
END""",
}


def upgrade() -> None:
    op.execute(
        "UPDATE contact_changes SET href = (SELECT coalesce(dav_name, uid || '.vcf')"
        " FROM contacts WHERE contacts.id = contact_changes.contact_id"
        " AND contacts.owner_id = contact_changes.user_id)"
        " WHERE EXISTS (SELECT 1 FROM contacts WHERE contacts.id = contact_changes.contact_id"
        " AND contacts.owner_id = contact_changes.user_id AND contacts.dav_name IS NOT NULL)"
    )
    replace(POSTGRESQL_FUNCTION, SQLITE_TRIGGERS)


def downgrade() -> None:
    replace(OLD_POSTGRESQL_FUNCTION, OLD_SQLITE_TRIGGERS)


def replace(function: str, triggers: dict[str, str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(function)
        return
    for name, statement in triggers.items():
        op.execute(f"DROP TRIGGER {name}")
        op.execute(statement)


# As migration 0013 wrote them, for the way down.
OLD_POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION log_contact_changes() RETURNS trigger LANGUAGE plpgsql AS $$
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

# `href` is the last segment of the contact's CardDAV path. `changed_at` on SQLite is
# SQLAlchemy's text form of a timestamp, to the millisecond: what UTCDateTime reads.
OLD_SQLITE_TRIGGERS = {
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
