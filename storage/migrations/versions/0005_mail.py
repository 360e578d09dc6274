"""mail: held emails, failure notices, bounce details

Revision ID: 0005_mail
Revises: 0004_coordinator_notice
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0005_mail"
down_revision: str | None = "0004_coordinator_notice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The enum stores names; the new value cannot be used in this transaction, nor is it.
        op.execute("ALTER TYPE outboxstatus ADD VALUE IF NOT EXISTS 'HELD'")
    with op.batch_alter_table("outbox_email") as batch:
        batch.add_column(
            sa.Column("attempts_before_hold", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "message_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True
            )
        )
        batch.add_column(sa.Column("reported_at", storage.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("suppression") as batch:
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
    # Failures from before this version were reported in digests already: not again in chat.
    op.execute("UPDATE outbox_email SET reported_at = next_attempt_at WHERE status = 'FAILED'")


def downgrade() -> None:
    with op.batch_alter_table("suppression") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("outbox_email") as batch:
        batch.drop_column("reported_at")
        batch.drop_column("message_id")
        batch.drop_column("attempts_before_hold")
