"""dead jobs re-drivable: `jobs.task_failure_log.reprocessed_at`, set when a failed job is
requested again, and an index on the pending ones

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task_failure_log",
        sa.Column("reprocessed_at", sa.DateTime(timezone=True), nullable=True),
        schema="jobs",
    )
    op.create_index(
        "ix_jobs_task_failure_log_pending",
        "task_failure_log",
        ["job", "id"],
        schema="jobs",
        postgresql_where=sa.text("reprocessed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_task_failure_log_pending", "task_failure_log", schema="jobs")
    op.drop_column("task_failure_log", "reprocessed_at", schema="jobs")
