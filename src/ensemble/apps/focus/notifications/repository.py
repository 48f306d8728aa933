"""Queries of notifications and devices. No rules here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.notifications.models import Device, Notification
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest

_INSERTED = literal_column("xmax = 0", Boolean)
"""In an upsert's RETURNING: whether the row was inserted (not updated)."""


class Notifications(Repository[Notification]):
    async def insert_once(
        self, session: AsyncSession, values: dict[str, Any]
    ) -> Notification | None:
        """The new notification, or None if its user has one from the same source."""
        stmt = (
            insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_id", "source"])
            .returning(Notification)
        )
        return await session.scalar(stmt)

    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, request: PageRequest, *, unread: bool
    ) -> Page[Notification]:
        """The user's notifications (only the unread ones with `unread`), newest first."""
        where = Notification.user_id == user_id
        if unread:
            where &= Notification.read_at.is_(None)
        return await self.page(session, where, request, (Notification.id,), descending=True)

    async def unread_count(self, session: AsyncSession, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
        return int(await session.scalar(stmt) or 0)

    async def mark_read(
        self, session: AsyncSession, user_id: uuid.UUID, ids: Sequence[uuid.UUID] | None
    ) -> int:
        """Mark the user's unread notifications of `ids` (all with None) read; how many."""
        stmt = (
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        result = await session.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]


class Devices(Repository[Device]):
    async def register(
        self, session: AsyncSession, user_id: uuid.UUID, token: str, platform: str
    ) -> tuple[Device, bool]:
        """The token for `user_id` (taken from whoever had it); whether it is new."""
        new = insert(Device).values(
            token=token, user_id=user_id, platform=platform, registered_at=utcnow()
        )
        stmt = new.on_conflict_do_update(
            index_elements=[Device.token],
            set_={
                "user_id": new.excluded.user_id,
                "platform": new.excluded.platform,
                "registered_at": new.excluded.registered_at,
            },
        ).returning(Device, _INSERTED)
        row = (await session.execute(stmt, execution_options={"populate_existing": True})).one()
        return row[0], bool(row[1])

    async def of_user(self, session: AsyncSession, user_id: uuid.UUID) -> Sequence[Device]:
        return (await session.scalars(self.select().where(Device.user_id == user_id))).all()

    async def remove(self, session: AsyncSession, user_id: uuid.UUID, token: str) -> bool:
        """Unregister the user's token; False if it is not theirs (or not registered)."""
        stmt = (
            delete(Device)
            .where(Device.token == token, Device.user_id == user_id)
            .returning(Device.token)
        )
        return (await session.scalar(stmt)) is not None


notifications = Notifications(Notification)
devices = Devices(Device)
