"""Ledger tables, in the `ledger` schema.

An account holds one balance of one currency for one owner of one realm (app). Its entries
form a chain: sequences 1..n without gaps, each entry's `balance_before` equal to the
previous entry's `balance_after`, and the account's `balance` equal to the last
`balance_after`. Entries refuse UPDATE and DELETE at the database level (trigger in the
migration); a mistake is corrected by a compensating entry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "ledger"


class Direction(StrEnum):
    EARN = "EARN"
    SPEND = "SPEND"


def _timestamp(**kwargs: object) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Account(Base):
    """One balance: (owner realm, owner id, currency) → balance and the last entry's sequence."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("owner_realm", "owner_id", "currency", name="uq_accounts_owner_currency"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("last_sequence >= 0", name="last_sequence_not_negative"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    owner_realm: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow)


class Entry(Base):
    """One movement of an account. Never updated, never deleted."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("account_id", "sequence", name="uq_entries_account_sequence"),
        UniqueConstraint(
            "account_id", "idempotency_key", name="uq_entries_account_idempotency_key"
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        CheckConstraint("balance_before >= 0 AND balance_after >= 0", name="balances_not_negative"),
        CheckConstraint(
            "balance_after - balance_before"
            " = CASE direction WHEN 'EARN' THEN amount ELSE -amount END",
            name="balance_moves_by_amount",
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.accounts.id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[Direction] = mapped_column(Enum(Direction, name="direction", schema=SCHEMA))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    reference_type: Mapped[str | None] = mapped_column(String(64))
    reference_id: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    balance_before: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
