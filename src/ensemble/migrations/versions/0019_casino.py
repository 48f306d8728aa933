"""casino: Casino-Club's members and invite codes in the `casino` schema, and auth notices
for a rank change in `casino.users`

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA casino")
    op.create_table(
        "users",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("nickname", sa.String(length=20), nullable=False),
        sa.Column(
            "rank",
            sa.Enum("STANDARD", "PREMIUM", "VIP", "ADMIN", name="rank", schema="casino"),
            nullable=False,
        ),
        sa.Column("vip_tier", sa.SmallInteger(), nullable=False),
        sa.Column("invite_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_users")),
        sa.UniqueConstraint("nickname", name=op.f("uq_users_nickname")),
        schema="casino",
    )
    op.create_table(
        "invite_codes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("used_by", sa.Uuid(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("max_uses >= 1", name=op.f("ck_invite_codes_max_uses_positive")),
        sa.CheckConstraint(
            "uses >= 0 AND uses <= max_uses", name=op.f("ck_invite_codes_uses_within_max")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_invite_codes")),
        schema="casino",
    )
    # Callers are cached per process with their rank (decision 22): a rank change (or a
    # member gone) tells every process. A login's `last_login_at` does not.
    op.execute(
        "CREATE TRIGGER auth_notice_users AFTER UPDATE OF rank OR DELETE OR TRUNCATE"
        " ON casino.users"
        " FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('casino')"
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA casino CASCADE")  # its tables, their enum and trigger
