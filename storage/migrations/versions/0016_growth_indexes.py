"""growth indexes: registrations by date, the task pool of a slot, slots by start date

At 100,000 supervisors the digest's new supervisors, propose's candidates and the slots of
/slots and the digest each scanned a whole table (issue 10, benchmark 4).

Revision ID: 0016_growth_indexes
Revises: 0015_privacy
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_growth_indexes"
down_revision: str | None = "0015_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_supervisor_created_at", "supervisor", ["created_at"])
    op.create_index("ix_task_pool", "task", ["exchange_type", "city", "status"])
    op.create_index("ix_slot_start_date", "slot", ["start_date"])


def downgrade() -> None:
    op.drop_index("ix_slot_start_date", table_name="slot")
    op.drop_index("ix_task_pool", table_name="task")
    op.drop_index("ix_supervisor_created_at", table_name="supervisor")
