"""a supervisor's colleague referral: whether they came through one, and from whom

Revision ID: 0008_referral
Revises: 0007_inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_referral"
down_revision: str | None = "0007_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supervisor") as batch:
        batch.add_column(
            sa.Column("referred", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("referred_by", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_supervisor_referred_by"), ["referred_by"], unique=False)
        batch.create_foreign_key(
            "fk_supervisor_referred_by_supervisor",
            "supervisor",
            ["referred_by"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("supervisor") as batch:
        batch.drop_constraint("fk_supervisor_referred_by_supervisor", type_="foreignkey")
        batch.drop_index(batch.f("ix_supervisor_referred_by"))
        batch.drop_column("referred_by")
        batch.drop_column("referred")
