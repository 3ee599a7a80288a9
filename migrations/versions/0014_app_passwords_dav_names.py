"""app_passwords, and the CardDAV name of a contact

`app_passwords`: one row per device that syncs over CardDAV, with a hash of its password
(never the password), unique, so a request finds its row by the hash. Deleting the user
deletes the rows.

`contacts.dav_name`: the last segment of a card's CardDAV path when the device that created
it chose one other than `{uid}.vcf`, and an index that finds a card by its name in the book
of its owner.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression as models/contacts.py's DAV_HREF.
DAV_HREF = "coalesce(dav_name, uid || '.vcf')"


def upgrade() -> None:
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("password_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_app_passwords_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_passwords")),
        sa.UniqueConstraint("password_hash", name=op.f("uq_app_passwords_password_hash")),
    )
    op.create_index(op.f("ix_app_passwords_user_id"), "app_passwords", ["user_id"])
    op.add_column("contacts", sa.Column("dav_name", sa.String(length=255), nullable=True))
    op.create_index("ix_contacts_owner_id_dav_href", "contacts", ["owner_id", sa.text(DAV_HREF)])


def downgrade() -> None:
    op.drop_index("ix_contacts_owner_id_dav_href", table_name="contacts")
    # A plain ALTER TABLE, on SQLite too (3.35 and later): no rebuild of a table with
    # generated columns.
    with op.batch_alter_table("contacts", recreate="never") as batch:
        batch.drop_column("dav_name")
    op.drop_index(op.f("ix_app_passwords_user_id"), table_name="app_passwords")
    op.drop_table("app_passwords")
