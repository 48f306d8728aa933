"""focus: Focus Mate's core tables in the `focus` schema (users and settings, rooms with their
timer, members, bans, presence spans, focus sessions), and auth notices for `focus.users`

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA focus")
    op.create_table(
        "users",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=50), nullable=False),
        sa.Column(
            "role",
            sa.Enum("USER", "MODERATOR", "ADMIN", name="role", schema="focus"),
            nullable=False,
        ),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_users")),
        schema="focus",
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("work_minutes", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        sa.Column("long_break_minutes", sa.Integer(), nullable=False),
        sa.Column("long_break_every", sa.Integer(), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum("public", "private", name="visibility", schema="focus"),
            nullable=False,
        ),
        sa.Column("join_code", sa.String(length=16), nullable=True),
        sa.Column(
            "control", sa.Enum("owner", "everyone", name="control", schema="focus"), nullable=False
        ),
        sa.Column("auto_start_breaks", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emptied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["focus.users.account_id"], name=op.f("fk_rooms_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("join_code", name=op.f("uq_rooms_join_code")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_rooms_owner_id"), "rooms", ["owner_id"], unique=False, schema="focus"
    )
    op.create_index(
        op.f("ix_focus_rooms_visibility"),
        "rooms",
        ["visibility", "id"],
        unique=False,
        schema="focus",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "user_settings",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("work_minutes", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        sa.Column("long_break_minutes", sa.Integer(), nullable=False),
        sa.Column("sound", sa.Boolean(), nullable=False),
        sa.Column("presence_visible", sa.Boolean(), nullable=False),
        sa.Column("notifications", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["focus.users.account_id"],
            name=op.f("fk_user_settings_account_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_user_settings")),
        schema="focus",
    )
    op.create_table(
        "focus_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("focus_seconds", sa.Integer(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=True),
        sa.Column("interrupted_reason", sa.String(length=32), nullable=True),
        sa.Column("goal", sa.String(length=200), nullable=True),
        sa.Column("goal_done", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["focus.rooms.id"], name=op.f("fk_focus_sessions_room_id_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focus_sessions")),
        sa.UniqueConstraint(
            "room_id", "user_id", "started_at", name=op.f("uq_focus_sessions_room_id")
        ),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_focus_sessions_user_id"),
        "focus_sessions",
        ["user_id", "started_at"],
        unique=False,
        schema="focus",
    )
    op.create_table(
        "presence_spans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["focus.rooms.id"],
            name=op.f("fk_presence_spans_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_spans")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_presence_spans_room_id"),
        "presence_spans",
        ["room_id", "user_id", "started_at"],
        unique=False,
        schema="focus",
    )
    op.create_index(
        "uq_presence_spans_open",
        "presence_spans",
        ["room_id", "user_id"],
        unique=True,
        schema="focus",
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "room_bans",
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("banned_by", sa.Uuid(), nullable=False),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["focus.rooms.id"],
            name=op.f("fk_room_bans_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_room_bans")),
        schema="focus",
    )
    op.create_table(
        "room_members",
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["focus.rooms.id"],
            name=op.f("fk_room_members_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_room_members")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_room_members_user_id"),
        "room_members",
        ["user_id"],
        unique=False,
        schema="focus",
    )
    op.create_table(
        "timers",
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("idle", "running", "paused", name="timer_state", schema="focus"),
            nullable=False,
        ),
        sa.Column(
            "phase",
            sa.Enum("work", "short_break", "long_break", name="phase", schema="focus"),
            nullable=False,
        ),
        sa.Column("phase_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_remaining_ms", sa.BigInteger(), nullable=True),
        sa.Column("completed_work_phases", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["focus.rooms.id"],
            name=op.f("fk_timers_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_timers")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_timers_phase_ends_at"),
        "timers",
        ["phase_ends_at"],
        unique=False,
        schema="focus",
        postgresql_where=sa.text("state = 'running'"),
    )
    op.execute(
        "CREATE TRIGGER auth_notice_users AFTER UPDATE OR DELETE OR TRUNCATE ON focus.users"
        " FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('focus')"
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA focus CASCADE")  # its tables, their enums and triggers
