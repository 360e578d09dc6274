"""inbox answered: when an update's button press was answered

An update is now done when its handler returned, not at its first call to Telegram, so a crash
in between processes it again; this mark keeps that second run from answering the press again.

Revision ID: 0017_inbox_answered
Revises: 0016_growth_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0017_inbox_answered"
down_revision: str | None = "0016_growth_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_update") as batch:
        batch.add_column(sa.Column("answered_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_update") as batch:
        batch.drop_column("answered_at")
