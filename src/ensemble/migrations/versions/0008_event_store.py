"""event store: stored events of event-sourced aggregates and their snapshots

Stored events refuse UPDATE and DELETE at the database level. See
`ensemble.kernel.events.store` and docs/decisions/0011-event-store.md.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE_CHANGE = """
CREATE FUNCTION events.refuse_stored_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are append-only: append a compensating event instead'
        USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "stored_events",
        sa.Column("aggregate_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=200), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "aggregate_type", "aggregate_id", "sequence_number", name=op.f("pk_stored_events")
        ),
        sa.UniqueConstraint("event_id", name=op.f("uq_stored_events_event_id")),
        schema="events",
    )
    op.create_table(
        "snapshots",
        sa.Column("aggregate_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=200), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("state", postgresql.JSONB(), nullable=False),
        sa.Column(
            "taken_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "aggregate_type", "aggregate_id", "sequence_number", name=op.f("pk_snapshots")
        ),
        schema="events",
    )
    op.execute(REFUSE_CHANGE)
    op.execute(
        "CREATE TRIGGER stored_events_append_only BEFORE UPDATE OR DELETE ON events.stored_events"
        " FOR EACH ROW EXECUTE FUNCTION events.refuse_stored_event_change()"
    )


def downgrade() -> None:
    op.drop_table("snapshots", schema="events")
    op.drop_table("stored_events", schema="events")
    op.execute("DROP FUNCTION events.refuse_stored_event_change()")
