"""Room and membership queries: filters, the room lock, keyset pages and the guarded
statements that keep `member_count` exact. No rules here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import Ban, Member, Room, User, Visibility
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate


def _contains(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Rooms(Repository[Room]):
    async def live(
        self, session: AsyncSession, room_id: uuid.UUID, *, lock: bool = False
    ) -> Room | None:
        """The room unless deleted; `lock` holds its row until the transaction ends (against
        other membership changes; it lets rows that refer to the room be inserted)."""
        stmt = self.select().where(Room.id == room_id, Room.deleted_at.is_(None))
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        found: Room | None = await session.scalar(stmt.execution_options(populate_existing=True))
        return found

    async def page_for(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        request: PageRequest,
        *,
        public: bool | None,
        mine: bool,
        q: str | None,
    ) -> Page[Room]:
        """Live rooms newest first: `mine`, those the user is in or owns (archived too); else
        the public ones and the private ones the user is in, archived ones left out. `public`
        keeps one visibility; `q` matches the name."""
        member = exists().where(Member.room_id == Room.id, Member.user_id == user_id)
        stmt: Select[Any] = self.select().where(Room.deleted_at.is_(None))
        if mine:
            stmt = stmt.where(or_(member, Room.owner_id == user_id))
        else:
            stmt = stmt.where(
                Room.archived_at.is_(None), or_(Room.visibility == Visibility.PUBLIC, member)
            )
        if public is not None:
            stmt = stmt.where(
                Room.visibility == (Visibility.PUBLIC if public else Visibility.PRIVATE)
            )
        if q:
            stmt = stmt.where(Room.name.ilike(_contains(q), escape="\\"))
        return await self.page(session, stmt, request, (Room.id,), descending=True)

    async def take_seat(
        self, session: AsyncSession, room_id: uuid.UUID, now: datetime
    ) -> int | None:
        """One more member if a seat is free (checked and counted in one statement, so
        concurrent joins never pass the capacity); a join revives an archived room. The new
        count, or None when full."""
        stmt = (
            update(Room)
            .where(
                Room.id == room_id,
                Room.deleted_at.is_(None),
                Room.member_count < Room.max_participants,
            )
            .values(member_count=Room.member_count + 1, archived_at=None, last_active_at=now)
            .returning(Room.member_count)
            .execution_options(synchronize_session=False)
        )
        count: int | None = await session.scalar(stmt)
        return count

    async def free_seat(self, session: AsyncSession, room_id: uuid.UUID) -> int:
        """One member fewer; the new count."""
        stmt = (
            update(Room)
            .where(Room.id == room_id)
            .values(member_count=Room.member_count - 1)
            .returning(Room.member_count)
            .execution_options(synchronize_session=False)
        )
        count: int = (await session.execute(stmt)).scalar_one()
        return count


rooms = Rooms(Room)


class Members(Repository[Member]):
    async def of(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID
    ) -> Member | None:
        found: Member | None = await session.get(Member, (room_id, user_id))
        return found

    async def add(
        self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> bool:
        """Add the member unless they are one (also if a concurrent join is adding them: it
        waits for that one); whether this added them."""
        stmt = (
            insert(Member)
            .values(room_id=room_id, user_id=user_id, joined_at=now)
            .on_conflict_do_nothing()
            .returning(Member.user_id)
        )
        return (await session.scalar(stmt)) is not None

    async def remove(self, session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Whether they were a member."""
        stmt = (
            delete(Member)
            .where(Member.room_id == room_id, Member.user_id == user_id)
            .returning(Member.user_id)
            .execution_options(synchronize_session=False)
        )
        return (await session.scalar(stmt)) is not None

    async def longest_present(self, session: AsyncSession, room_id: uuid.UUID) -> uuid.UUID | None:
        """The member who joined first."""
        stmt = (
            select(Member.user_id)
            .where(Member.room_id == room_id)
            .order_by(Member.joined_at, Member.user_id)
            .limit(1)
        )
        found: uuid.UUID | None = await session.scalar(stmt)
        return found

    async def user_ids(self, session: AsyncSession, room_id: uuid.UUID) -> Sequence[uuid.UUID]:
        return (
            await session.scalars(select(Member.user_id).where(Member.room_id == room_id))
        ).all()

    async def page_of(
        self, session: AsyncSession, room_id: uuid.UUID, request: PageRequest
    ) -> Page[Any]:
        """The room's members with their display names, longest present first."""
        stmt = (
            select(Member, User.display_name)
            .join(User, User.account_id == Member.user_id)
            .where(Member.room_id == room_id)
        )
        keys = (Member.joined_at, Member.user_id)
        return await paginate(session, stmt, request, keys=keys, item=as_fetched)


members = Members(Member)


async def is_banned(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return (await session.get(Ban, (room_id, user_id))) is not None


async def ban(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, by: uuid.UUID, now: datetime
) -> None:
    """Ban the user from the room (once: a second ban keeps the first)."""
    stmt = insert(Ban).values(room_id=room_id, user_id=user_id, banned_by=by, banned_at=now)
    await session.execute(stmt.on_conflict_do_nothing())
