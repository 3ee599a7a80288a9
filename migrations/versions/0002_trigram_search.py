"""trigram indexes for substring search on PostgreSQL

Search matches substrings (ILIKE '%word%'), which a B-tree cannot serve: without these a
search reads every contact of the user. A GIN index of trigrams (pg_trgm) per searched field
finds the few matches of a word among 100,000 contacts directly; the owner is then checked on
those rows. (Led by owner_id through btree_gin, the planner priced the indexes by the owner's
100,000 entries and chose a scan: 108 ms instead of 0.2.)
SQLite has no such index and scans; it is the one-process development database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = ("first_name", "last_name", "email")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # A "trusted" extension: the database's owner may create it, no superuser needed.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED:
        op.create_index(
            f"ix_contacts_{column}_trgm",
            "contacts",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in SEARCHED:
        op.drop_index(f"ix_contacts_{column}_trgm", "contacts")
