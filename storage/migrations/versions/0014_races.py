"""races: one suppression per address in any letter case, enforced by a unique index

Revision ID: 0014_races
Revises: 0013_task_english

Two units of work may now run at once (different people's updates): "is the address on the
list? no: add it" could add it twice in different letter cases. The expression index on
lower(email) becomes unique, and inserts use ON CONFLICT DO NOTHING (see `storage.atomic`).
Duplicates written before are merged first: the oldest entry of an address stays.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_races"
down_revision: str | None = "0013_task_english"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM suppression WHERE id NOT IN"
        " (SELECT min(id) FROM suppression GROUP BY lower(email))"
    )
    op.drop_index("ix_suppression_email_lower", table_name="suppression")
    op.create_index(
        "ix_suppression_email_lower", "suppression", [sa.text("lower(email)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_suppression_email_lower", table_name="suppression")
    op.create_index("ix_suppression_email_lower", "suppression", [sa.text("lower(email)")])
