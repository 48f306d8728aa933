"""casino: NOTIFY `ensemble_auth` with `casino_catalogue` when a gacha banner or a rate table
changes, so every API process forgets the pull terms it keeps (decision 31)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("gacha_banners", "gacha_rate_tables")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER catalogue_notice_{table}"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON casino.{table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('casino_catalogue')"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER catalogue_notice_{table} ON casino.{table}")
