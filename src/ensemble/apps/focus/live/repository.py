"""The live domain's queries: who may be in a room, its participants, its chat."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.live.models import RoomMessage
from ensemble.apps.focus.models import Ban, Member, PresenceSpan, Room, User, UserSettings
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest


class Rooms(Repository[Room]):
    async def live(self, session: AsyncSession, room_id: uuid.UUID) -> Room | None:
        """The room, unless it was deleted."""
        room = await self.get(session, room_id)
        return room if room is not None and room.deleted_at is None else None

    async def lock(self, session: AsyncSession, room_id: uuid.UUID) -> None:
        """Take the room's row lock: presence changes of one room apply one at a time."""
        await session.execute(select(Room.id).where(Room.id == room_id).with_for_update())

    async def occupied(self, session: AsyncSession, room_id: uuid.UUID, at: datetime) -> None:
        await session.execute(
            update(Room).where(Room.id == room_id).values(emptied_at=None, last_active_at=at)
        )

    async def emptied_if_nobody_left(
        self, session: AsyncSession, room_id: uuid.UUID, at: datetime
    ) -> None:
        """Mark the room emptied at `at`, unless someone still has an open presence span."""
        someone = exists().where(PresenceSpan.room_id == room_id, PresenceSpan.ended_at.is_(None))
        await session.execute(
            update(Room)
            .where(Room.id == room_id, Room.emptied_at.is_(None), ~someone)
            .values(emptied_at=at, last_active_at=at)
        )


class Members(Repository[Member]):
    async def is_member(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID
    ) -> bool:
        return await session.get(Member, (room_id, user_id)) is not None

    async def is_banned(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID
    ) -> bool:
        return await session.get(Ban, (room_id, user_id)) is not None

    async def participants(
        self, session: AsyncSession, room_id: uuid.UUID
    ) -> Sequence[Row[uuid.UUID, str, datetime, bool]]:
        """Every member with their display name and whether they show their presence,
        longest-standing first."""
        query = (
            select(
                Member.user_id,
                User.display_name,
                Member.joined_at,
                func.coalesce(UserSettings.presence_visible, True),
            )
            .join(User, User.account_id == Member.user_id)
            .outerjoin(UserSettings, UserSettings.account_id == Member.user_id)
            .where(Member.room_id == room_id)
            .order_by(Member.joined_at, Member.user_id)
        )
        return (await session.execute(query)).all()

    async def hiding(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `user_ids` who keep their presence to themselves (settings)."""
        query = select(UserSettings.account_id).where(
            UserSettings.account_id.in_(user_ids), UserSettings.presence_visible.is_(False)
        )
        return set((await session.scalars(query)).all())


class Spans(Repository[PresenceSpan]):
    async def open(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, at: datetime
    ) -> None:
        """A new span from `at`; one left open by a lost departure is closed at `at` first."""
        await self.close(session, room_id, user_id, at)
        await session.execute(
            insert(PresenceSpan)
            .values(room_id=room_id, user_id=user_id, started_at=at)
            .on_conflict_do_nothing(
                index_elements=["room_id", "user_id"], index_where=PresenceSpan.ended_at.is_(None)
            )
        )

    async def close(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, at: datetime
    ) -> None:
        """End the user's open span at `at` (one that started later is a newer presence)."""
        await session.execute(
            update(PresenceSpan)
            .where(
                PresenceSpan.room_id == room_id,
                PresenceSpan.user_id == user_id,
                PresenceSpan.ended_at.is_(None),
                PresenceSpan.started_at <= at,
            )
            .values(ended_at=at)
        )


class Messages(Repository[RoomMessage]):
    async def page_of(
        self, session: AsyncSession, room_id: uuid.UUID, request: PageRequest
    ) -> Page[RoomMessage]:
        """Newest first."""
        where = RoomMessage.room_id == room_id
        keys = (RoomMessage.created_at, RoomMessage.id)
        return await self.page(session, where, request, keys, descending=True)


rooms = Rooms(Room)
members = Members(Member)
spans = Spans(PresenceSpan)
messages = Messages(RoomMessage)
