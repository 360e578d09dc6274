"""season targets: how many incoming students to host per season and exchange type

Revision ID: 0010_season_target
Revises: 0009_suppression_lower
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0010_season_target"
down_revision: str | None = "0009_suppression_lower"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "season_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("season", sa.Integer(), nullable=False),
        sa.Column("exchange_type", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("season", "exchange_type", name="uq_season_target"),
    )


def downgrade() -> None:
    op.drop_table("season_target")
