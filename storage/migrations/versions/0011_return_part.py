"""return part: the part of a task a coordinator's return names (title, months...)

Revision ID: 0011_return_part
Revises: 0010_season_target
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_return_part"
down_revision: str | None = "0010_season_target"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task",
        sa.Column("return_part", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("task", "return_part")
