"""eco: one schema per domain (auth, image, scan, character, my, location, chat), the
identity deny-list, and the shipped data: the character catalogue and sample recycling
centres across Seoul's districts (`apps/eco/data/centres.csv`, synthetic positions)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SCHEMAS = (
    "eco_auth",
    "eco_image",
    "eco_scan",
    "eco_character",
    "eco_my",
    "eco_location",
    "eco_chat",
)
CHARACTERS = [
    # code, name, category, rarity, description
    ("petty", "페티 Petty", "plastic", "common", "A clear PET bottle who loves a rinse."),
    ("capsy", "캡시 Capsy", "plastic", "rare", "Keeps every cap apart from its bottle."),
    ("labelon", "라벨론 Labelon", "plastic", "epic", "Peels labels off in one go."),
    ("boxie", "박시 Boxie", "paper", "common", "A flattened box, neatly tied."),
    ("newsy", "뉴시 Newsy", "paper", "rare", "Yesterday's paper, ready for tomorrow's."),
    ("milky", "밀키 Milky", "paper", "epic", "A rinsed and dried milk carton."),
    ("canny", "캐니 Canny", "can", "common", "A soda can, crushed flat."),
    ("tinny", "티니 Tinny", "can", "rare", "A tin that was emptied and washed."),
    ("gassy", "가시 Gassy", "can", "epic", "A gas canister, safely pierced."),
    ("glassy", "글래시 Glassy", "glass", "common", "A bottle returned unbroken."),
    ("soju", "소주리 Soju-ri", "glass", "rare", "Brings back its deposit."),
    ("jarry", "재리 Jarry", "glass", "epic", "A jar without its lid."),
    ("vinny", "비니 Vinny", "vinyl", "common", "A snack bag, shaken clean."),
    ("wrappy", "래피 Wrappy", "vinyl", "rare", "Cling film gathered in one bag."),
    ("baggy", "배기 Baggy", "vinyl", "epic", "A carrier bag with a second life."),
    ("foamy", "포미 Foamy", "styrofoam", "common", "White foam, tape removed."),
    ("icey", "아이시 Icey", "styrofoam", "rare", "An ice box emptied out."),
    ("puffy", "퍼피 Puffy", "styrofoam", "epic", "Packing foam, clean and dry."),
]


def _seed() -> None:
    catalogue = sa.table(
        "catalogue", sa.column("id", sa.Uuid()), sa.column("code", sa.String()),
        sa.column("name", sa.String()), sa.column("category", sa.String()),
        sa.column("rarity", sa.String()), sa.column("description", sa.Text()),
        sa.column("display_order", sa.Integer()), schema="eco_character",
    )  # fmt: skip
    op.bulk_insert(
        catalogue,
        [
            {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"eco:character:{code}"), "code": code,
             "name": name, "category": category, "rarity": rarity, "description": description,
             "display_order": order}
            for order, (code, name, category, rarity, description) in enumerate(CHARACTERS)
        ],
    )  # fmt: skip
    centres = sa.table(
        "centres", sa.column("id", sa.Uuid()), sa.column("external_id", sa.String()),
        sa.column("name", sa.String()), sa.column("district", sa.String()),
        sa.column("address", sa.String()), sa.column("lat", sa.Double()),
        sa.column("lng", sa.Double()), sa.column("categories", postgresql.ARRAY(sa.String())),
        sa.column("phone", sa.String()), sa.column("opening_hours", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)), schema="eco_location",
    )  # fmt: skip
    data = resources.files("ensemble.apps.eco").joinpath("data/centres.csv").read_text("utf-8")
    now = datetime.now(UTC)
    op.bulk_insert(
        centres,
        [
            {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"eco:centre:{row['external_id']}"),
             "external_id": row["external_id"], "name": row["name"], "district": row["district"],
             "address": row["address"], "lat": float(row["lat"]), "lng": float(row["lng"]),
             "categories": row["categories"].split(";"), "phone": row["phone"] or None,
             "opening_hours": row["opening_hours"] or None, "updated_at": now}
            for row in csv.DictReader(io.StringIO(data))
        ],
    )  # fmt: skip


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "login_audit",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("client_address", sa.String(length=100), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("logged_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_audit")),
        schema="eco_auth",
    )
    op.create_index(
        op.f("ix_eco_auth_login_audit_account_id"),
        "login_audit",
        ["account_id", "logged_in_at"],
        unique=False,
        schema="eco_auth",
    )
    op.create_table(
        "users",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.Enum("USER", "ADMIN", name="role", schema="eco_auth"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_users")),
        schema="eco_auth",
    )
    op.create_table(
        "catalogue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("rarity", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue")),
        sa.UniqueConstraint("code", name=op.f("uq_catalogue_code")),
        schema="eco_character",
    )
    op.create_index(
        op.f("ix_eco_character_catalogue_category"),
        "catalogue",
        ["category", "display_order"],
        unique=False,
        schema="eco_character",
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        schema="eco_chat",
    )
    op.create_index(
        op.f("ix_eco_chat_sessions_user_id"),
        "sessions",
        ["user_id", "id"],
        unique=False,
        schema="eco_chat",
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("upload_id", name=op.f("uq_images_upload_id")),
        schema="eco_image",
    )
    op.create_index(
        op.f("ix_eco_image_images_user_id"),
        "images",
        ["user_id", "created_at"],
        unique=False,
        schema="eco_image",
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "uploaded", "registered", name="upload_status", schema="eco_image"),
            nullable=False,
        ),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        schema="eco_image",
    )
    op.create_index(
        op.f("ix_eco_image_uploads_user_id"),
        "uploads",
        ["user_id", "created_at"],
        unique=False,
        schema="eco_image",
    )
    op.create_table(
        "centres",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("opening_hours", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centres")),
        sa.UniqueConstraint("external_id", name=op.f("uq_centres_external_id")),
        schema="eco_location",
    )
    op.create_index(
        op.f("ix_eco_location_centres_lat"),
        "centres",
        ["lat", "lng"],
        unique=False,
        schema="eco_location",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("source_event_id", name=op.f("uq_notifications_source_event_id")),
        schema="eco_my",
    )
    op.create_index(
        op.f("ix_eco_my_notifications_user_id"),
        "notifications",
        ["user_id", "id"],
        unique=False,
        schema="eco_my",
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("nickname", sa.String(length=50), nullable=True),
        sa.Column("total_scans", sa.Integer(), nullable=False),
        sa.Column("total_characters", sa.Integer(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
        schema="eco_my",
    )
    op.create_table(
        "images",
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_images")),
        schema="eco_scan",
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("image_url", sa.String(length=2000), nullable=True),
        sa.Column("user_input", sa.String(length=1000), nullable=True),
        sa.Column(
            "status",
            sa.Enum("processing", "completed", "failed", name="scan_status", schema="eco_scan"),
            nullable=False,
        ),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("disposal_guide", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "reward_status",
            sa.Enum(
                "pending",
                "granted",
                "failed",
                "not_eligible",
                name="reward_status",
                schema="eco_scan",
            ),
            nullable=True,
        ),
        sa.Column("reward_character", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reward_reason", sa.String(length=100), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_scans_user_id")),
        schema="eco_scan",
    )
    op.create_index(
        op.f("ix_eco_scan_scans_status"),
        "scans",
        ["status", "created_at"],
        unique=False,
        schema="eco_scan",
    )
    op.create_index(
        op.f("ix_eco_scan_scans_user_id"),
        "scans",
        ["user_id", "id"],
        unique=False,
        schema="eco_scan",
    )
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
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("reply_to", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["eco_chat.sessions.id"],
            name=op.f("fk_messages_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("reply_to", name=op.f("uq_messages_reply_to")),
        schema="eco_chat",
    )
    op.create_index(
        op.f("ix_eco_chat_messages_session_id"),
        "messages",
        ["session_id", "id"],
        unique=False,
        schema="eco_chat",
    )
    _seed()


def downgrade() -> None:
    op.drop_index(op.f("ix_eco_chat_messages_session_id"), table_name="messages", schema="eco_chat")
    op.drop_table("messages", schema="eco_chat")
    op.drop_index(
        op.f("ix_identity_denied_tokens_expires_at"), table_name="denied_tokens", schema="identity"
    )
    op.drop_table("denied_tokens", schema="identity")
    op.drop_index(op.f("ix_eco_scan_scans_user_id"), table_name="scans", schema="eco_scan")
    op.drop_index(op.f("ix_eco_scan_scans_status"), table_name="scans", schema="eco_scan")
    op.drop_table("scans", schema="eco_scan")
    op.drop_table("images", schema="eco_scan")
    op.drop_table("profiles", schema="eco_my")
    op.drop_index(
        op.f("ix_eco_my_notifications_user_id"), table_name="notifications", schema="eco_my"
    )
    op.drop_table("notifications", schema="eco_my")
    op.drop_index(op.f("ix_eco_location_centres_lat"), table_name="centres", schema="eco_location")
    op.drop_table("centres", schema="eco_location")
    op.drop_index(op.f("ix_eco_image_uploads_user_id"), table_name="uploads", schema="eco_image")
    op.drop_table("uploads", schema="eco_image")
    op.drop_index(op.f("ix_eco_image_images_user_id"), table_name="images", schema="eco_image")
    op.drop_table("images", schema="eco_image")
    op.drop_index(op.f("ix_eco_chat_sessions_user_id"), table_name="sessions", schema="eco_chat")
    op.drop_table("sessions", schema="eco_chat")
    op.drop_index(
        op.f("ix_eco_character_catalogue_category"), table_name="catalogue", schema="eco_character"
    )
    op.drop_table("catalogue", schema="eco_character")
    op.drop_table("users", schema="eco_auth")
    op.drop_index(
        op.f("ix_eco_auth_login_audit_account_id"), table_name="login_audit", schema="eco_auth"
    )
    op.drop_table("login_audit", schema="eco_auth")
    for schema in SCHEMAS:
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
