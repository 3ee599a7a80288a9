"""birthday_calendars: the secret address of each user's birthday calendar

One row per user who has a calendar address: a hash of its secret (never the secret), unique,
so a request finds its calendar by the hash. Deleting the user deletes the row.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "birthday_calendars",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_birthday_calendars_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_birthday_calendars")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_birthday_calendars_secret_hash")),
    )


def downgrade() -> None:
    op.drop_table("birthday_calendars")
