"""b0: NOTIFY `ensemble_auth` when a B0 user or its provider identity changes, so every API
process's auth cache forgets B0's callers (decision 22)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("b0.users", "b0.user_identities")
"""The tables B0's callers are read from (`b0/auth.py` watches the same). A new row changes
no cached caller (an unregistered token is never kept), so inserts send no notice: sign-ups
do not empty every process's cache."""


def _trigger_name(table: str) -> str:
    return f"auth_notice_{table.split('.')[1]}"


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {_trigger_name(table)}"
            f" AFTER UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('b0')"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {_trigger_name(table)} ON {table}")
