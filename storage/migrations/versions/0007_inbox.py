"""the durable inbox of Telegram updates

Revision ID: 0007_inbox
Revises: 0006_stale
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007_inbox"
down_revision: str | None = "0006_stale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("done_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index(
        op.f("ix_inbox_update_telegram_user_id"),
        "inbox_update",
        ["telegram_user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_update_telegram_user_id"), table_name="inbox_update")
    op.drop_table("inbox_update")
