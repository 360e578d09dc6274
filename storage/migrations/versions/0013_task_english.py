"""task english: a task's English title and description, for the IFMSA exchange portal

Revision ID: 0013_task_english
Revises: 0012_invitation_used
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013_task_english"
down_revision: str | None = "0012_invitation_used"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(
            sa.Column("title_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch.add_column(
            sa.Column("description_en", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.drop_column("description_en")
        batch.drop_column("title_en")
