"""Declarative base with a stable constraint naming convention, UUID v7 ids and UTC times."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import MetaData, text
from sqlalchemy.orm import DeclarativeBase, mapped_column
from uuid_utils.compat import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


CURRENT_XID = text("(pg_current_xact_id()::text)::bigint")
"""The writing transaction's id (a bigint), as a column's server default: what the event
outbox and change feeds order rows by."""


class Base(DeclarativeBase):
    """All tables of all apps; each app puts its tables in its own PostgreSQL schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> uuid.UUID:
    """A time-ordered UUID v7, so new rows land at the right edge of their index."""
    value: uuid.UUID = uuid7()
    return value


def id_at(instant: datetime) -> uuid.UUID:
    """A UUID v7 of `instant` (RFC 9562: 48 bits of Unix milliseconds, the version, the
    variant, random bits), for rows loaded in bulk with past times: their ids order them in
    time as `new_id` orders rows written live."""
    millis = int(instant.timestamp() * 1000) & (2**48 - 1)
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return uuid.UUID(int=millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)


UuidPk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=new_id)]
"""A UUID primary key given a `new_id()` on insert: `id: Mapped[UuidPk]`."""


def utcnow() -> datetime:
    return datetime.now(UTC)
