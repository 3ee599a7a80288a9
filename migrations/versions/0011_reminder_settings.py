"""reminder_settings: each user's birthday reminders, and the days the run checked and sent

One row per user who has set their reminders; a user without one has the defaults (off).
`checked_on` and `sent_on` are days in the user's time zone: the run claims a user for a day
by moving `checked_on` to it, and records `sent_on` with the message. Deleting the user
deletes the row. The index serves the run, which reads the enabled rows zone by zone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("days_before", sa.JSON(), server_default=sa.text("'[0,7]'"), nullable=False),
        sa.Column("hour", sa.Integer(), server_default="8", nullable=False),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reminder_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reminder_settings")),
    )
    enabled = sa.text("enabled")
    op.create_index(
        op.f("ix_reminder_settings_time_zone_hour"),
        "reminder_settings",
        ["time_zone", "hour"],
        postgresql_where=enabled,
        sqlite_where=enabled,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reminder_settings_time_zone_hour"), table_name="reminder_settings")
    op.drop_table("reminder_settings")
