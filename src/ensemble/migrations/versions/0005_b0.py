"""b0: users and identities, the travel catalogue, tickets, rooms and stays, diaries,
questionnaires, room chat — plus the demo catalogue (cities, airships, guesthouses, questions)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CITIES = [
    # name, description, base cost, base hours
    ("Aurora Harbor", "A port town under the northern lights.", 300, 1.0),
    ("Lantern Valley", "Paper lanterns float over quiet rice terraces.", 400, 2.0),
    ("Cloud Bazaar", "A market that drifts between two mountains.", 500, 3.0),
    ("Tidewater", "Canals, bridges and the smell of the sea.", 350, 1.5),
]
AIRSHIPS = [
    # name, description, cost factor, duration factor
    ("Breeze", "The regular line.", 1.0, 1.0),
    ("Swift", "Twice as fast, a little pricier.", 1.5, 0.5),
    ("Drift", "Slow and cheap, with a view.", 0.7, 1.5),
]
QUESTIONS = [
    "What small thing made you smile today?",
    "Which place would you like to see again, and why?",
    "What are you looking forward to this week?",
    "Who would you take on your next trip?",
    "What did you learn on your last journey?",
]


def _demo_content() -> None:
    cities = sa.table(
        "cities", sa.column("id", sa.Uuid()), sa.column("name", sa.String()),
        sa.column("description", sa.Text()), sa.column("is_active", sa.Boolean()),
        sa.column("base_cost_points", sa.Integer()), sa.column("base_duration_hours", sa.Numeric()),
        sa.column("display_order", sa.Integer()), sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)), schema="b0",
    )  # fmt: skip
    airships = sa.table(
        "airships", sa.column("id", sa.Uuid()), sa.column("name", sa.String()),
        sa.column("description", sa.Text()), sa.column("cost_factor", sa.Numeric()),
        sa.column("duration_factor", sa.Numeric()), sa.column("is_active", sa.Boolean()),
        sa.column("display_order", sa.Integer()), sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)), schema="b0",
    )  # fmt: skip
    questions = sa.table(
        "questions", sa.column("id", sa.Uuid()), sa.column("content", sa.String()),
        sa.column("display_order", sa.Integer()), sa.column("is_active", sa.Boolean()),
        schema="b0",
    )  # fmt: skip
    now = sa.func.now()
    op.execute(
        sa.insert(cities).values([
            {"id": sa.func.gen_random_uuid(), "name": n, "description": d, "is_active": True,
             "base_cost_points": c, "base_duration_hours": h, "display_order": i,
             "created_at": now, "updated_at": now}
            for i, (n, d, c, h) in enumerate(CITIES)
        ])
    )  # fmt: skip
    op.execute(
        sa.insert(airships).values([
            {"id": sa.func.gen_random_uuid(), "name": n, "description": d, "cost_factor": c,
             "duration_factor": f, "is_active": True, "display_order": i,
             "created_at": now, "updated_at": now}
            for i, (n, d, c, f) in enumerate(AIRSHIPS)
        ])
    )  # fmt: skip
    op.execute(
        sa.insert(questions).values([
            {"id": sa.func.gen_random_uuid(), "content": q, "display_order": i, "is_active": True}
            for i, q in enumerate(QUESTIONS)
        ])
    )  # fmt: skip
    op.execute(
        "INSERT INTO b0.guest_houses (id, city_id, name, guest_house_type, created_at) "
        "SELECT gen_random_uuid(), id, name || ' Guesthouse', 'MIXED', now() FROM b0.cities"
    )


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS b0")
    op.create_table(
        "airships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("cost_factor", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("duration_factor", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cost_factor > 0 AND duration_factor > 0", name=op.f("ck_airships_factors_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_airships")),
        schema="b0",
    )
    op.create_table(
        "cities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("base_cost_points", sa.Integer(), nullable=False),
        sa.Column("base_duration_hours", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("base_cost_points > 0", name=op.f("ck_cities_cost_positive")),
        sa.CheckConstraint("base_duration_hours > 0", name=op.f("ck_cities_duration_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cities")),
        schema="b0",
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.String(length=500), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
        schema="b0",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("nickname", sa.String(length=10), nullable=True),
        sa.Column("profile", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        schema="b0",
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"], ["b0.questions.id"], name=op.f("fk_answers_question_id_questions")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["b0.users.id"], name=op.f("fk_answers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.UniqueConstraint("user_id", "question_id", name=op.f("uq_answers_user_id")),
        schema="b0",
    )
    op.create_table(
        "diaries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("diary_date", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("mood", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["b0.users.id"], name=op.f("fk_diaries_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diaries")),
        sa.UniqueConstraint("user_id", "diary_date", name=op.f("uq_diaries_user_id")),
        schema="b0",
    )
    op.create_table(
        "guest_houses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("city_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "guest_house_type",
            sa.Enum("MIXED", "QUIET", name="guest_house_type", schema="b0"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"], ["b0.cities.id"], name=op.f("fk_guest_houses_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guest_houses")),
        schema="b0",
    )
    op.create_index(
        op.f("ix_b0_guest_houses_city_id"), "guest_houses", ["city_id"], unique=False, schema="b0"
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_number", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("city_id", sa.Uuid(), nullable=False),
        sa.Column("airship_id", sa.Uuid(), nullable=False),
        sa.Column("city_snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("airship_snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cost_points", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PURCHASED", "BOARDING", "COMPLETED", "CANCELLED", name="ticket_status", schema="b0"
            ),
            nullable=False,
        ),
        sa.Column("departure_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrival_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["airship_id"], ["b0.airships.id"], name=op.f("fk_tickets_airship_id_airships")
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["b0.cities.id"], name=op.f("fk_tickets_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["b0.users.id"], name=op.f("fk_tickets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("ticket_number", name=op.f("uq_tickets_ticket_number")),
        schema="b0",
    )
    op.create_index(
        "ix_tickets_boarding_arrival",
        "tickets",
        ["arrival_datetime"],
        unique=False,
        schema="b0",
        postgresql_where=sa.text("status = 'BOARDING'"),
    )
    op.create_index(
        "ix_tickets_user_created",
        "tickets",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="b0",
    )
    op.create_table(
        "user_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_user_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["b0.users.id"],
            name=op.f("fk_user_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_identities")),
        sa.UniqueConstraint(
            "provider", "provider_user_id", name=op.f("uq_user_identities_provider")
        ),
        schema="b0",
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("guest_house_id", sa.Uuid(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("current_occupancy", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "current_occupancy >= 0 AND current_occupancy <= capacity",
            name=op.f("ck_rooms_occupancy_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["guest_house_id"],
            ["b0.guest_houses.id"],
            name=op.f("fk_rooms_guest_house_id_guest_houses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        schema="b0",
    )
    op.create_index(
        op.f("ix_b0_rooms_guest_house_id"), "rooms", ["guest_house_id"], unique=False, schema="b0"
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("content", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["b0.rooms.id"], name=op.f("fk_chat_messages_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["b0.users.id"], name=op.f("fk_chat_messages_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        schema="b0",
    )
    op.create_index(
        "ix_chat_room_time",
        "chat_messages",
        ["room_id", "created_at", "id"],
        unique=False,
        schema="b0",
    )
    op.create_table(
        "room_stays",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("CHECKED_IN", "EXTENDED", "CHECKED_OUT", name="stay_status", schema="b0"),
            nullable=False,
        ),
        sa.Column("check_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_check_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actual_check_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["b0.rooms.id"], name=op.f("fk_room_stays_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["b0.tickets.id"], name=op.f("fk_room_stays_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["b0.users.id"], name=op.f("fk_room_stays_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_stays")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_room_stays_ticket_id")),
        schema="b0",
    )
    op.create_index(
        "ix_room_stays_active_room",
        "room_stays",
        ["room_id"],
        unique=False,
        schema="b0",
        postgresql_where=sa.text("status IN ('CHECKED_IN', 'EXTENDED')"),
    )
    op.create_index(
        "uq_room_stays_active_user",
        "room_stays",
        ["user_id"],
        unique=True,
        schema="b0",
        postgresql_where=sa.text("status IN ('CHECKED_IN', 'EXTENDED')"),
    )
    _demo_content()


def downgrade() -> None:
    op.execute("DROP SCHEMA b0 CASCADE")
