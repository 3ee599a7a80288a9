"""the trash, versions for ETags, favourites and labels

A deleted contact stays in the table with `deleted_at` set, so the indexes of the book become
partial (`WHERE deleted_at IS NULL`): the unique email holds among live contacts only, and the
list and birthday indexes hold no trashed rows. Two small partial indexes serve the trash page
(per owner) and the purge (over every owner, oldest first). `version` is what SQLAlchemy's
`version_id_col` checks in every UPDATE, and what a contact's ETag is made of. Labels are rows
of their own, linked to contacts through a table of pairs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_THE_BOOK = sa.text("deleted_at IS NULL")
IN_THE_TRASH = sa.text("deleted_at IS NOT NULL")
# The indexes of 0001 and 0004, which become partial.
BOOK_INDEXES = {
    "ix_contacts_owner_id_email": (["owner_id", "email"], True),
    "ix_contacts_owner_id_last_name_first_name_id": (
        ["owner_id", "last_name", "first_name", "id"],
        False,
    ),
    "ix_contacts_owner_id_birthday_key": (["owner_id", "birthday_key"], False),
}


NEW_COLUMNS = ("favorite", "version", "deleted_at")


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: a batch would copy the table on SQLite,
    # which cannot copy the generated birthday_key.
    op.add_column(
        "contacts", sa.Column("favorite", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "contacts", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.add_column("contacts", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    for name, (columns, unique) in BOOK_INDEXES.items():
        op.drop_index(name, "contacts")
        op.create_index(
            name,
            "contacts",
            columns,
            unique=unique,
            postgresql_where=IN_THE_BOOK,
            sqlite_where=IN_THE_BOOK,
        )
    op.create_index(
        "ix_contacts_owner_id_deleted_at_id",
        "contacts",
        ["owner_id", "deleted_at", "id"],
        postgresql_where=IN_THE_TRASH,
        sqlite_where=IN_THE_TRASH,
    )
    op.create_index(
        "ix_contacts_deleted_at",
        "contacts",
        ["deleted_at"],
        postgresql_where=IN_THE_TRASH,
        sqlite_where=IN_THE_TRASH,
    )

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_labels_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
    )
    op.create_index("ix_labels_owner_id_name_key", "labels", ["owner_id", "name_key"], unique=True)
    op.create_table(
        "contact_labels",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_labels_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_contact_labels_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "label_id", name=op.f("pk_contact_labels")),
    )
    op.create_index(
        "ix_contact_labels_label_id_contact_id", "contact_labels", ["label_id", "contact_id"]
    )


def downgrade() -> None:
    op.drop_table("contact_labels")
    op.drop_table("labels")
    # Trashed contacts have no place in a book without a trash (and could break the unique
    # email index of before).
    op.execute(sa.text("DELETE FROM contacts WHERE deleted_at IS NOT NULL"))
    op.drop_index("ix_contacts_deleted_at", "contacts")
    op.drop_index("ix_contacts_owner_id_deleted_at_id", "contacts")
    for name, (columns, unique) in BOOK_INDEXES.items():
        op.drop_index(name, "contacts")
        op.create_index(name, "contacts", columns, unique=unique)
    for name in NEW_COLUMNS:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite 3.35+ drops a column in place (Alembic would copy the table).
            op.execute(sa.text(f"ALTER TABLE contacts DROP COLUMN {name}"))
        else:
            op.drop_column("contacts", name)
