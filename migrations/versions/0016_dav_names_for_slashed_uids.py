"""contacts: a CardDAV name of its own for a card whose UID holds a slash

A card's CardDAV name is `coalesce(dav_name, uid || '.vcf')`, the last segment of its path. An
import kept a UID with a slash (`http://example.com/people/7`) without a name of its own, so the
card was listed at a path that no request could reach: a phone saw it and could never fetch it.
Imports now give such a card a name (`urn:uuid:….vcf`); this gives one to those imported before.
The change log's triggers log each as changed, so a device that listed one learns its new name;
the old one is not reported gone (the log keeps one row a contact), so a device that listed it
keeps an entry it could never fetch, as before, until its next full sync.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    unreachable = connection.execute(
        sa.text("SELECT id FROM contacts WHERE dav_name IS NULL AND uid LIKE '%/%'")
    ).scalars()
    names = [{"name": f"urn:uuid:{uuid.uuid4()}.vcf", "id": id_} for id_ in unreachable]
    if names:  # one executemany, not a statement a contact
        connection.execute(sa.text("UPDATE contacts SET dav_name = :name WHERE id = :id"), names)


def downgrade() -> None:
    # The names stay: without them the cards could not be reached again, and nothing tells
    # them from names that devices chose.
    pass
