"""casino safety: responsible play (limits, guards with cool-off, self-exclusion and the
reality-check interval, daily tallies, reality checks per game session) and the age-gated
unlock (staged contents, age verifications, the append-only unlock log)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "casino.users.account_id"


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], [USERS], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "play_limits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name=op.f("ck_play_limits_amount_not_negative")
        ),
        sa.CheckConstraint(
            "pending_amount IS NULL OR pending_amount >= 0",
            name=op.f("ck_play_limits_pending_not_negative"),
        ),
        _user_fk("play_limits"),
        sa.PrimaryKeyConstraint(
            "user_id", "kind", "period", "currency", name=op.f("pk_play_limits")
        ),
        schema="casino",
    )
    op.create_table(
        "play_guards",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cool_off_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excluded_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excluded_permanently", sa.Boolean(), nullable=False),
        sa.Column("reality_check_minutes", sa.Integer(), nullable=True),
        _user_fk("play_guards"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_play_guards")),
        schema="casino",
    )
    op.create_table(
        "play_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("staked", sa.BigInteger(), nullable=False),
        sa.Column("won", sa.BigInteger(), nullable=False),
        _user_fk("play_days"),
        sa.PrimaryKeyConstraint("user_id", "day", "currency", name=op.f("pk_play_days")),
        schema="casino",
    )
    op.create_table(
        "reality_checks",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["casino.game_sessions.id"],
            name=op.f("fk_reality_checks_session_id_game_sessions"), ondelete="CASCADE",
        ),
        _user_fk("reality_checks"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_reality_checks")),
        schema="casino",
    )  # fmt: skip
    _unlock_tables()


CONTENTS = [("after-dark", "After Dark")]
STAGES = [
    ("after-dark", "teaser", 0, 0, "STANDARD", "A first look (the teaser of After Dark)."),
    ("after-dark", "partial", 200, 0, "STANDARD", "More of it (the partial stage)."),
    ("after-dark", "full", 500, 1, "STANDARD", "All of it (the full stage)."),
]
"""The sample content: (content, stage, price in coins, minimum VIP tier, minimum rank,
body)."""


def _unlock_tables() -> None:
    contents = op.create_table(
        "unlock_contents",
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("content_id", name=op.f("pk_unlock_contents")),
        schema="casino",
    )
    stages = op.create_table(
        "unlock_stages",
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("price_coins", sa.Integer(), nullable=False),
        sa.Column("min_vip_tier", sa.SmallInteger(), nullable=False),
        sa.Column(
            "min_rank",
            postgresql.ENUM(name="rank", schema="casino", create_type=False),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.CheckConstraint("price_coins >= 0", name=op.f("ck_unlock_stages_price_not_negative")),
        sa.CheckConstraint(
            "stage IN ('teaser', 'partial', 'full')", name=op.f("ck_unlock_stages_known_stage")
        ),
        sa.ForeignKeyConstraint(
            ["content_id"], ["casino.unlock_contents.content_id"],
            name=op.f("fk_unlock_stages_content_id_unlock_contents"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("content_id", "stage", name=op.f("pk_unlock_stages")),
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "age_verifications",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("age_verifications"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_age_verifications")),
        schema="casino",
    )
    op.create_table(
        "unlocks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("price_coins", sa.Integer(), nullable=False),
        sa.Column("verification", sa.String(length=128), nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "content_id", "stage", name=op.f("pk_unlocks")),
        schema="casino",
    )
    op.execute(
        "CREATE FUNCTION casino.unlocks_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'casino.unlocks is append-only' USING ERRCODE = '42501'; END $$"
    )
    op.execute(
        "CREATE TRIGGER unlocks_append_only BEFORE UPDATE OR DELETE ON casino.unlocks"
        " FOR EACH ROW EXECUTE FUNCTION casino.unlocks_append_only()"
    )
    op.bulk_insert(contents, [{"content_id": c, "title": t} for c, t in CONTENTS])
    op.bulk_insert(
        stages,
        [
            dict(zip(("content_id", "stage", "price_coins", "min_vip_tier", "min_rank", "body"),
                     row, strict=True))
            for row in STAGES
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("unlocks", schema="casino")
    op.execute("DROP FUNCTION casino.unlocks_append_only()")
    op.drop_table("age_verifications", schema="casino")
    op.drop_table("unlock_stages", schema="casino")
    op.drop_table("unlock_contents", schema="casino")
    op.drop_table("reality_checks", schema="casino")
    op.drop_table("play_days", schema="casino")
    op.drop_table("play_guards", schema="casino")
    op.drop_table("play_limits", schema="casino")
