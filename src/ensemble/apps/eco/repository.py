"""ECO² queries, for every domain module (scans, characters, my, locations, chat). No
business rules here: filters, locks, keyset pages and insert-once statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.models import (
    Centre,
    Character,
    ChatMessage,
    ChatSession,
    Image,
    Notification,
    Profile,
    Scan,
    ScanImage,
    ScanStatus,
    Upload,
)
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest

# Images


class Images(Repository[Image]):
    async def of_upload(self, session: AsyncSession, upload_id: uuid.UUID) -> Image | None:
        stmt = self.select().where(Image.upload_id == upload_id)
        return (await session.scalars(stmt)).one_or_none()


images = Images(Image)
uploads = Repository(Upload)


# Scans


class Scans(Repository[Scan]):
    _INSERT = (
        insert(Scan)
        .on_conflict_do_nothing(index_elements=["user_id", "idempotency_key"])
        .returning(Scan)
    )
    """A new scan, or nothing if the caller already used its `Idempotency-Key` (built once)."""

    async def insert_once(self, session: AsyncSession, values: dict[str, Any]) -> Scan | None:
        return await session.scalar(self._INSERT, values)

    async def by_idempotency_key(
        self, session: AsyncSession, user_id: uuid.UUID, idempotency_key: str | None
    ) -> Scan:
        stmt = self.select().where(Scan.user_id == user_id, Scan.idempotency_key == idempotency_key)
        return (await session.scalars(stmt)).one()

    async def lock_stale(
        self, session: AsyncSession, older_than: timedelta, batch: int
    ) -> Sequence[Scan]:
        """Scans processing for longer than `older_than`, oldest first, no one else holds."""
        stmt = (
            self.select()
            .where(Scan.status == ScanStatus.PROCESSING, Scan.created_at < func.now() - older_than)
            .order_by(Scan.created_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return (await session.scalars(stmt)).all()


scans = Scans(Scan)
scan_images = Repository(ScanImage)


async def remember_image(session: AsyncSession, values: dict[str, Any]) -> None:
    """Keep the scan domain's copy of a registered image (once)."""
    await session.execute(insert(ScanImage).values(**values).on_conflict_do_nothing())


# Characters


async def character_catalogue(session: AsyncSession) -> Sequence[Character]:
    stmt = select(Character).order_by(Character.category, Character.display_order)
    return (await session.scalars(stmt)).all()


# My: profile and notifications


async def profile(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, *, lock: bool
) -> Profile:
    """The user's profile, created empty on first use."""
    await session.execute(
        insert(Profile)
        .values(
            user_id=user_id,
            total_scans=0,
            total_characters=0,
            sequence=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return await session.get_one(Profile, user_id, with_for_update=lock, populate_existing=lock)


Owned = TypeVar("Owned", Notification, ChatSession)


class NewestFirst(Repository[Owned]):
    """Rows of a user's, newest first (ids are UUID v7)."""

    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, request: PageRequest
    ) -> Page[Owned]:
        where = self.model.user_id == user_id
        return await self.page(session, where, request, (self.model.id,), descending=True)


class Notifications(NewestFirst[Notification]):
    async def insert_once(
        self, session: AsyncSession, values: dict[str, Any]
    ) -> Notification | None:
        """The new notification, or None if its source event has one already."""
        stmt = (
            insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["source_event_id"])
            .returning(Notification)
        )
        return await session.scalar(stmt)


notifications = Notifications(Notification)


# Locations


async def centres_near(
    session: AsyncSession, box: ColumnElement[bool], distance: ColumnElement[float], limit: int
) -> list[tuple[Centre, float]]:
    """Centres in `box` within the distance bound, nearest first, with their distance."""
    stmt = (
        select(Centre, distance.label("distance_km"))
        .where(box)
        .order_by(distance, Centre.id)
        .limit(limit)
    )
    return [(centre, float(km)) for centre, km in await session.execute(stmt)]


_CENTRE_UPDATES = (
    "name", "district", "address", "lat", "lng", "categories", "phone", "opening_hours",
    "updated_at",
)  # fmt: skip


async def upsert_centres(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Insert or update centres by `external_id`."""
    stmt = insert(Centre).values(values)
    updatable = {name: stmt.excluded[name] for name in _CENTRE_UPDATES}
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["external_id"], set_=updatable)
    )


# Chat


chat_sessions = NewestFirst(ChatSession)


class ChatMessages(Repository[ChatMessage]):
    async def page_of(
        self, session: AsyncSession, session_id: uuid.UUID, request: PageRequest
    ) -> Page[ChatMessage]:
        """In the order they were written (ids are UUID v7)."""
        where = ChatMessage.session_id == session_id
        return await self.page(session, where, request, (ChatMessage.id,))

    async def insert_answer(
        self, session: AsyncSession, values: dict[str, Any]
    ) -> uuid.UUID | None:
        """The new answer's id, or None if its question has one already."""
        stmt = (
            insert(ChatMessage)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["reply_to"])
            .returning(ChatMessage.id)
        )
        return await session.scalar(stmt)


chat_messages = ChatMessages(ChatMessage)
