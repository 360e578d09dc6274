"""privacy: supervisors' last activity and retention question, a held update, deletion audit

Revision ID: 0015_privacy
Revises: 0014_races
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import UTCDateTime

revision: str = "0015_privacy"
down_revision: str | None = "0014_races"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supervisor") as batch:
        batch.add_column(sa.Column("last_active_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retention_asked_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("held_update", sa.JSON(), nullable=True))
    # Until now only the profile's last change was known: the retention clock starts there.
    op.execute("UPDATE supervisor SET last_active_at = updated_at")
    op.create_table(
        "deletion_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("deletion_audit")
    with op.batch_alter_table("supervisor") as batch:
        batch.drop_column("held_update")
        batch.drop_column("retention_asked_at")
        batch.drop_column("last_active_at")
