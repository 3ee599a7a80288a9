"""birthday_key computed by the database

Until now the ORM wrote `birthday_key` (month * 100 + day) before every insert and update, and
the import set it by hand. A row written any other way (COPY, a restore, a data migration)
got 0 and never showed up in the birthday list. As a generated column the database computes
it from `birthday` on every write, whoever writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_contacts_owner_id_birthday_key"
# Written out here, not imported from the models: a migration keeps the schema of its day.
BIRTHDAY_KEY = sa.extract("month", sa.column("birthday")) * 100 + sa.extract(
    "day", sa.column("birthday")
)


def _recreate() -> Literal["always", "auto"]:
    # SQLite cannot add a stored generated column to a table: the batch copies the table.
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    op.drop_index(INDEX, "contacts")
    with op.batch_alter_table("contacts", recreate=_recreate()) as batch:
        batch.drop_column("birthday_key")
        batch.add_column(
            sa.Column(
                "birthday_key",
                sa.Integer(),
                sa.Computed(BIRTHDAY_KEY, persisted=True),
                nullable=False,
            )
        )
    op.create_index(INDEX, "contacts", ["owner_id", "birthday_key"])


def downgrade() -> None:
    op.drop_index(INDEX, "contacts")
    # Two batches: in one, SQLite's copy of the table would keep the column generated.
    with op.batch_alter_table("contacts", recreate=_recreate()) as batch:
        batch.drop_column("birthday_key")
    with op.batch_alter_table("contacts", recreate=_recreate()) as batch:
        batch.add_column(sa.Column("birthday_key", sa.Integer(), nullable=True))
    # Filled from the birthdays, as the ORM hook of before wrote them.
    op.execute(
        sa.table("contacts", sa.column("birthday"), sa.column("birthday_key"))
        .update()
        .values(birthday_key=BIRTHDAY_KEY)
    )
    with op.batch_alter_table("contacts", recreate=_recreate()) as batch:
        batch.alter_column("birthday_key", existing_type=sa.Integer(), nullable=False)
    op.create_index(INDEX, "contacts", ["owner_id", "birthday_key"])
