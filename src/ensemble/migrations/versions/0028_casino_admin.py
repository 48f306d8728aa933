"""casino admin: members' status (suspended, deleted) beside `casino.users`, told to the
auth caches on every change

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_status",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "suspended", "deleted", name="user_status", schema="casino"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("changed_by", sa.Uuid(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["casino.users.account_id"],
            name=op.f("fk_member_status_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member_status")),
        schema="casino",
    )  # fmt: skip
    # The caller resolver reads a member's status (decision 22): any change tells every
    # process's auth cache, whoever wrote it.
    op.execute(
        "CREATE TRIGGER auth_notice_member_status AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        " ON casino.member_status"
        " FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('casino')"
    )


def downgrade() -> None:
    op.drop_table("member_status", schema="casino")  # and its trigger
    op.execute("DROP TYPE casino.user_status")
