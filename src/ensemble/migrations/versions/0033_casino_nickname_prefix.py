"""casino: an index for the admin search of members by nickname prefix in any case
(`lower(nickname) LIKE 'prefix%'`), which scanned every member

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_users_nickname_prefix ON casino.users (lower(nickname) text_pattern_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX casino.ix_users_nickname_prefix")
