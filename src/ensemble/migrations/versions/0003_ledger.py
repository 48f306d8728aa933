"""ledger: accounts per (realm, owner, currency) and their append-only chained entries

Entries refuse UPDATE and DELETE at the database level; a mistake is corrected by a
compensating entry. See `ensemble.kernel.ledger` and docs/decisions/0006-ledger.md.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE_CHANGE = """
CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: post a compensating entry instead'
        USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_realm", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_accounts_balance_not_negative")),
        sa.CheckConstraint(
            "last_sequence >= 0", name=op.f("ck_accounts_last_sequence_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint(
            "owner_realm", "owner_id", "currency", name="uq_accounts_owner_currency"
        ),
        schema="ledger",
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("EARN", "SPEND", name="direction", schema="ledger"),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("reference_type", sa.String(length=64), nullable=True),
        sa.Column("reference_id", sa.String(length=128), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("balance_before", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_entries_amount_positive")),
        sa.CheckConstraint(
            "balance_after - balance_before"
            " = CASE direction WHEN 'EARN' THEN amount ELSE -amount END",
            name=op.f("ck_entries_balance_moves_by_amount"),
        ),
        sa.CheckConstraint(
            "balance_before >= 0 AND balance_after >= 0",
            name=op.f("ck_entries_balances_not_negative"),
        ),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_entries_sequence_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger.accounts.id"], name=op.f("fk_entries_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint(
            "account_id", "idempotency_key", name="uq_entries_account_idempotency_key"
        ),
        sa.UniqueConstraint("account_id", "sequence", name="uq_entries_account_sequence"),
        schema="ledger",
    )
    op.execute(REFUSE_CHANGE)
    op.execute(
        "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA ledger CASCADE")
