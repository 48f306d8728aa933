"""identity: one atomic throttle counter per key (replaces one row per login failure); the
access-token deny-list is dropped (sessions are revoked instead, decision 15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("realm", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("realm", "key", name=op.f("pk_throttle_counters")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_throttle_counters_window_started_at"),
        "throttle_counters",
        ["window_started_at"],
        unique=False,
        schema="identity",
    )
    op.drop_index(
        op.f("ix_identity_login_failures_realm"), table_name="login_failures", schema="identity"
    )
    op.drop_table("login_failures", schema="identity")
    op.drop_index(
        op.f("ix_identity_denied_tokens_expires_at"), table_name="denied_tokens", schema="identity"
    )
    op.drop_table("denied_tokens", schema="identity")


def downgrade() -> None:
    op.create_table(
        "denied_tokens",
        sa.Column("jti", sa.Uuid(), nullable=False),
        sa.Column("realm", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_denied_tokens")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_denied_tokens_expires_at"),
        "denied_tokens",
        ["expires_at"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("realm", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_login_failures_realm"),
        "login_failures",
        ["realm", "subject", "failed_at"],
        unique=False,
        schema="identity",
    )
    op.drop_index(
        op.f("ix_identity_throttle_counters_window_started_at"),
        table_name="throttle_counters",
        schema="identity",
    )
    op.drop_table("throttle_counters", schema="identity")
