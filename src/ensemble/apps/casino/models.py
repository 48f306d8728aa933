"""Casino-Club's tables, in the `casino` schema: members, invite codes, items and inventory.
Coins and gems are kernel ledger accounts (realm `casino`), not tables here."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import GameType, ItemKind, Rank
from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "casino"
TZ = DateTime(timezone=True)


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum in the casino schema, stored by value."""
    return Enum(cls, name=name, schema=SCHEMA, values_callable=lambda e: [m.value for m in e])


class User(Base):
    """A member: the kernel account (realm `casino`), its nickname and rank."""

    __tablename__ = "users"
    __table_args__ = (
        Index(
            "ix_users_nickname_prefix",
            func.lower(text("nickname")),
            postgresql_ops={"lower(nickname)": "text_pattern_ops"},
        ),
        {"schema": SCHEMA},
    )
    """The admin search by nickname prefix, in any case, at millions of members."""

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    nickname: Mapped[str] = mapped_column(String(20), unique=True)
    """As the member typed it; unique regardless of case through the account's login."""
    rank: Mapped[Rank] = mapped_column(enum_type(Rank, "rank"), default=Rank.STANDARD)
    vip_tier: Mapped[int] = mapped_column(SmallInteger, default=0)
    """0 until the VIP rules (B3) place the member."""
    invite_code: Mapped[str | None] = mapped_column(String(32))
    """The code the member signed up with (None for accounts an admin command made)."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(TZ)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    """The IANA time zone of the member's day (daily login reward, streak; A5)."""


class InviteCode(Base):
    """A single-use invite code (the forever code is a setting, not a row): consumed by the
    one sign-up whose `UPDATE ... WHERE uses < max_uses` matched it."""

    __tablename__ = "invite_codes"
    __table_args__ = (
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses_within_max"),
        CheckConstraint("max_uses >= 1", name="max_uses_positive"),
        {"schema": SCHEMA},
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(TZ)
    created_by: Mapped[uuid.UUID | None]
    used_by: Mapped[uuid.UUID | None]
    used_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Item(Base):
    """The catalogue of items (reference data: migrations and admins add rows, nobody
    deletes one a member may own)."""

    __tablename__ = "items"
    __table_args__ = {"schema": SCHEMA}

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ItemKind] = mapped_column(enum_type(ItemKind, "item_kind"))
    tier: Mapped[str | None] = mapped_column(String(8))
    """The gacha tier (`SSR`, `SR`, `R`, `N`) of a collectible; None for other items."""
    description: Mapped[str] = mapped_column(String(500), default="")


class InventoryEntry(Base):
    """How many of an item a member holds. The take that leaves 0 deletes the row in its
    transaction, so a committed row always holds some."""

    __tablename__ = "inventory"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(ForeignKey(f"{SCHEMA}.items.item_id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Hand(Base):
    """One play of a game (a slot spin, a gacha pull or 10-pull): what it cost, what it paid
    and everything needed to recompute it from the revealed seed (A2). Written by the games,
    read by stats, leaderboards and achievements."""

    __tablename__ = "hands"
    __table_args__ = (
        CheckConstraint("bet >= 0 AND payout >= 0", name="amounts_not_negative"),
        Index("ix_hands_user_played", "user_id", "played_at"),
        Index("ix_hands_game_played", "game_type", "played_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE")
    )
    game_type: Mapped[GameType] = mapped_column(enum_type(GameType, "game_type"))
    session_id: Mapped[uuid.UUID | None]
    """The game session (A7) the hand was played in, if one was open."""
    currency: Mapped[str] = mapped_column(String(16))
    bet: Mapped[int] = mapped_column(BigInteger)
    payout: Mapped[int] = mapped_column(BigInteger)
    """Coins paid back (0 for a loss; a gacha pays items, not coins)."""
    server_seed_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[int] = mapped_column(BigInteger)
    table_version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The result as the game shows it (reels and line; pulls with tier, item, pity)."""
    played_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)

    @property
    def net(self) -> int:
        return self.payout - self.bet
