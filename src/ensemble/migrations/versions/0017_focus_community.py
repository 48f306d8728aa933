"""community: Focus Mate's posts, comments and likes, and reports, in the `focus` schema

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("board", sa.String(length=32), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("like_count", sa.Integer(), nullable=False),
        sa.Column("comment_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["focus.users.account_id"], name=op.f("fk_posts_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_posts_board"),
        "posts",
        ["board", "id"],
        unique=False,
        schema="focus",
        postgresql_where=LIVE,
    )
    op.create_index(
        op.f("ix_focus_posts_author_id"),
        "posts",
        ["author_id", "id"],
        unique=False,
        schema="focus",
        postgresql_where=LIVE,
    )
    op.create_index(
        op.f("ix_focus_posts_tags"),
        "posts",
        ["tags"],
        unique=False,
        schema="focus",
        postgresql_using="gin",
        postgresql_where=LIVE,
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["focus.users.account_id"], name=op.f("fk_comments_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["focus.posts.id"], name=op.f("fk_comments_post_id_posts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_comments_post_id"),
        "comments",
        ["post_id", "id"],
        unique=False,
        schema="focus",
        postgresql_where=LIVE,
    )
    op.create_table(
        "post_likes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["focus.posts.id"],
            name=op.f("fk_post_likes_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_post_likes")),
        schema="focus",
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column(
            "target_type",
            sa.Enum(
                "user", "post", "comment", "message", "room", name="report_target", schema="focus"
            ),
            nullable=False,
        ),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "resolved", name="report_status", schema="focus"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolution", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["focus.users.account_id"], name=op.f("fk_reports_reporter_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_reports_status"),
        "reports",
        ["status", "id"],
        unique=False,
        schema="focus",
    )
    op.create_index(
        "uq_reports_open",
        "reports",
        ["reporter_id", "target_type", "target_id"],
        unique=True,
        schema="focus",
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("reports", schema="focus")
    op.drop_table("post_likes", schema="focus")
    op.drop_table("comments", schema="focus")
    op.drop_table("posts", schema="focus")
    op.execute("DROP TYPE focus.report_status")
    op.execute("DROP TYPE focus.report_target")
