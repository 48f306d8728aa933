"""casino hands: one row per play of a game, recomputable from the revealed seed

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GAME_TYPE = sa.Enum("slot", "gacha", name="game_type", schema="casino")


def upgrade() -> None:
    op.create_table(
        "hands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("game_type", GAME_TYPE, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("bet", sa.BigInteger(), nullable=False),
        sa.Column("payout", sa.BigInteger(), nullable=False),
        sa.Column("server_seed_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("table_version", sa.Integer(), nullable=False),
        sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bet >= 0 AND payout >= 0", name=op.f("ck_hands_amounts_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["casino.users.account_id"],
            name=op.f("fk_hands_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hands")),
        schema="casino",
    )
    op.create_index("ix_hands_user_played", "hands", ["user_id", "played_at"], schema="casino")
    op.create_index("ix_hands_game_played", "hands", ["game_type", "played_at"], schema="casino")


def downgrade() -> None:
    op.drop_table("hands", schema="casino")
    GAME_TYPE.drop(op.get_bind(), checkfirst=False)
