"""casino segments and campaigns: members' daily figures, RFM segments with their history and
runs, recommendation rules (seeded), self-check results, campaigns

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "casino.users.account_id"
GROUPS = ("WHALE", "HIGH_ENGAGED", "MEDIUM", "LOW_AT_RISK")
RFM_GROUP = sa.Enum(*GROUPS, name="rfm_group", schema="casino")
RULE_SEGMENT = sa.Enum(*GROUPS, "DEFAULT", "SAFER_PLAY", name="rule_segment", schema="casino")
OFFER_KIND = sa.Enum("product", "mission", "banner", "limit", name="offer_kind", schema="casino")
PLAY_STYLE = sa.Enum(
    "casual", "collector", "competitor", "reward_seeker", name="play_style", schema="casino"
)
RISK_LEVEL = sa.Enum("none", "low", "moderate", "high", name="risk_level", schema="casino")
CAMPAIGN_STATUS = sa.Enum("scheduled", "sent", "cancelled", name="campaign_status", schema="casino")
CAMPAIGN_AUDIENCE = sa.Enum("all", *GROUPS, name="campaign_audience", schema="casino")
ENUMS = (RFM_GROUP, RULE_SEGMENT, OFFER_KIND, PLAY_STYLE, RISK_LEVEL, CAMPAIGN_STATUS,
         CAMPAIGN_AUDIENCE)  # fmt: skip
SEEDED_AT = datetime(2026, 12, 8, tzinfo=UTC)

RULES = [
    ("WHALE", 1, "product", "founders-pack", "Founder's Pack", True),
    ("WHALE", 2, "product", "gems-1200", "1,200 Gems", True),
    ("WHALE", 3, "banner", "standard", "Standard banner", True),
    ("HIGH_ENGAGED", 1, "mission", "daily-spins", "Daily spins mission", False),
    ("HIGH_ENGAGED", 2, "product", "gems-550", "550 Gems", True),
    ("HIGH_ENGAGED", 3, "banner", "standard", "Standard banner", True),
    ("MEDIUM", 1, "mission", "daily-spins", "Daily spins mission", False),
    ("MEDIUM", 2, "product", "coins-1000", "1,000 Coins", True),
    ("LOW_AT_RISK", 1, "mission", "welcome-back", "Welcome back mission", False),
    ("LOW_AT_RISK", 2, "product", "gems-100", "100 Gems", True),
    ("DEFAULT", 1, "mission", "first-steps", "First steps mission", False),
    ("DEFAULT", 2, "product", "gems-100", "100 Gems", True),
    ("SAFER_PLAY", 1, "limit", "set-daily-loss-limit", "Set a daily loss limit", False),
    ("SAFER_PLAY", 2, "limit", "set-spend-limit", "Set a spending limit", False),
    ("SAFER_PLAY", 3, "limit", "take-a-cool-off", "Take a break", False),
]  # fmt: skip
"""(segment, rank, kind, ref, title, promotional): the shipped rules admins edit."""
RULE_IDS = uuid.UUID("6f1c4b9e-3f7a-4d2e-9a51-0c2b7e8d4a10")


def _user_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], [USERS], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _counters() -> list[sa.Column[int]]:
    return [
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("hands", sa.Integer(), nullable=False),
        sa.Column("coins_bet", sa.BigInteger(), nullable=False),
        sa.Column("coins_won", sa.BigInteger(), nullable=False),
        sa.Column("gems_spent", sa.BigInteger(), nullable=False),
        sa.Column("money_cents", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "member_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_counters(),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        _user_key("member_days"),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_member_days")),
        schema="casino",
    )
    op.create_index("ix_member_days_day", "member_days", ["day"], schema="casino")
    op.create_table(
        "segment_dirty",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _user_key("segment_dirty"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_segment_dirty")),
        schema="casino",
    )
    op.create_table(
        "user_segments",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("rfm_group", RFM_GROUP, nullable=False),
        sa.Column("r", sa.SmallInteger(), nullable=False),
        sa.Column("f", sa.SmallInteger(), nullable=False),
        sa.Column("m", sa.SmallInteger(), nullable=False),
        sa.Column("ltv_score", sa.Numeric(14, 2), nullable=False),
        sa.Column("last_active_on", sa.Date(), nullable=False),
        sa.Column("active_days", sa.Integer(), nullable=False),
        sa.Column("money_cents", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _user_key("user_segments"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_segments")),
        schema="casino",
    )
    op.create_index("ix_user_segments_group", "user_segments", ["rfm_group"], schema="casino")
    op.create_index(
        "ix_user_segments_last_active", "user_segments", ["last_active_on"], schema="casino"
    )
    op.create_table(
        "segment_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("from_group", RFM_GROUP, nullable=True),
        sa.Column("to_group", RFM_GROUP, nullable=False),
        sa.Column("r", sa.SmallInteger(), nullable=False),
        sa.Column("f", sa.SmallInteger(), nullable=False),
        sa.Column("m", sa.SmallInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _user_key("segment_history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_history")),
        schema="casino",
    )
    op.create_index(
        "ix_segment_history_user", "segment_history", ["user_id", "id"], schema="casino"
    )
    op.create_table(
        "rfm_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("touched", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rfm_runs")),
        schema="casino",
    )
    rules = op.create_table(
        "recommendation_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("segment", RULE_SEGMENT, nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("kind", OFFER_KIND, nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("promotional", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'limit' OR NOT promotional",
            name=op.f("ck_recommendation_rules_limit_not_promotional"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation_rules")),
        sa.UniqueConstraint("segment", "kind", "ref", name="uq_recommendation_rules_offer"),
        schema="casino",
    )
    op.create_index(
        "ix_recommendation_rules_segment", "recommendation_rules", ["segment", "rank"],
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "quiz_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("survey", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("self_check", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("play_style", PLAY_STYLE, nullable=False),
        sa.Column("risk_score", sa.SmallInteger(), nullable=False),
        sa.Column("risk_level", RISK_LEVEL, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_key("quiz_results"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_results")),
        schema="casino",
    )
    op.create_index("ix_quiz_results_user", "quiz_results", ["user_id", "id"], schema="casino")
    op.create_table(
        "member_risk",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("risk_level", RISK_LEVEL, nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _user_key("member_risk"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member_risk")),
        schema="casino",
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("segment", CAMPAIGN_AUDIENCE, nullable=False),
        sa.Column("promotional", sa.Boolean(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", CAMPAIGN_STATUS, nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        schema="casino",
    )
    op.create_index(
        "ix_campaigns_due", "campaigns", ["send_at"], schema="casino",
        postgresql_where=sa.text("status = 'scheduled'"),
    )  # fmt: skip
    op.bulk_insert(
        rules,
        [
            {"id": uuid.uuid5(RULE_IDS, f"{segment}:{kind}:{ref}"), "segment": segment,
             "rank": rank, "kind": kind, "ref": ref, "title": title,
             "promotional": promotional, "updated_at": SEEDED_AT}
            for segment, rank, kind, ref, title, promotional in RULES
        ],
    )  # fmt: skip


def downgrade() -> None:
    for table in ("campaigns", "member_risk", "quiz_results", "recommendation_rules",
                  "rfm_runs", "segment_history", "user_segments", "segment_dirty",
                  "member_days"):  # fmt: skip
        op.drop_table(table, schema="casino")
    for kind in ENUMS:
        kind.drop(op.get_bind(), checkfirst=False)
