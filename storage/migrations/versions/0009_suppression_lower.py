"""an index on lower(email) of the suppression list

Revision ID: 0009_suppression_lower
Revises: 0008_referral
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_suppression_lower"
down_revision: str | None = "0008_referral"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every suppression check compares lower(email): without this it scans the table.
    op.create_index("ix_suppression_email_lower", "suppression", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_suppression_email_lower", table_name="suppression")
