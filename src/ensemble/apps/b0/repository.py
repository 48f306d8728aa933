"""B0 queries: the catalogue, tickets, stays and rooms, diaries, the room chat. No business
rules here: filters, locks, keyset pages and atomic statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, text, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0.models import (
    ACTIVE_STAYS,
    Airship,
    Answer,
    ChatMessage,
    City,
    Diary,
    GuestHouse,
    Question,
    Room,
    RoomStay,
    Ticket,
    TicketStatus,
    User,
    UserIdentity,
)
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.errors import AppError
from ensemble.kernel.pagination import Page, PageRequest


async def advisory_lock(session: AsyncSession, key: str) -> None:
    """Hold a lock on `key` until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


Once = TypeVar("Once", Diary, Answer)


async def insert_once(
    session: AsyncSession, model: type[Once], unique: list[str], **values: Any
) -> Once | None:
    """Insert a row unless one with the same `unique` key exists, even one a concurrent
    transaction is inserting right now (it waits for that one): then None."""
    stmt = (
        insert(model)
        .values(id=new_id(), created_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(model)
    )
    return (await session.scalars(stmt)).one_or_none()


# Users


async def add_identity(
    session: AsyncSession, user_id: uuid.UUID, provider: str, subject: str
) -> None:
    """Link the user to the provider's account."""
    await session.execute(
        insert(UserIdentity).values(
            id=new_id(),
            user_id=user_id,
            provider=provider,
            provider_user_id=subject,
            created_at=utcnow(),
        )
    )


# The catalogue

Listed = TypeVar("Listed", City, Airship)


class Catalogue(Repository[Listed]):
    """Cities or airships: the active ones, in display order."""

    async def active_page(self, session: AsyncSession, request: PageRequest) -> Page[Listed]:
        stmt = self.select().where(self.model.is_active.is_(True))
        return await self.page(session, stmt, request, (self.model.display_order, self.model.id))

    async def active(self, session: AsyncSession, id: uuid.UUID, error: AppError) -> Listed:
        return await self.get_or_404(session, id, error, visible=lambda found: found.is_active)


cities = Catalogue(City)
airships = Catalogue(Airship)


async def active_destination(
    session: AsyncSession, city_id: uuid.UUID, airship_id: uuid.UUID
) -> tuple[City, Airship] | None:
    """The active city and airship in one row, or None if either is missing."""
    stmt = (
        select(City, Airship)
        .join(Airship, true())
        .where(
            City.id == city_id,
            City.is_active.is_(True),
            Airship.id == airship_id,
            Airship.is_active.is_(True),
        )
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])


# Tickets


class Tickets(Repository[Ticket]):
    async def own(
        self, session: AsyncSession, user_id: uuid.UUID, ticket_id: uuid.UUID, *, lock: bool
    ) -> Ticket | None:
        stmt = self.select().where(Ticket.id == ticket_id, Ticket.user_id == user_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt)).one_or_none()

    async def page_of(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        status: TicketStatus | None,
        request: PageRequest,
    ) -> Page[Ticket]:
        """Newest first."""
        stmt = self.select().where(Ticket.user_id == user_id)
        if status is not None:
            stmt = stmt.where(Ticket.status == status)
        keys = (Ticket.created_at, Ticket.id)
        return await self.page(session, stmt, request, keys, descending=True)

    async def newest_boarding(self, session: AsyncSession, user_id: uuid.UUID) -> Ticket | None:
        stmt = self.select().where(
            Ticket.user_id == user_id, Ticket.status == TicketStatus.BOARDING
        )
        return (await session.scalars(stmt.order_by(Ticket.created_at.desc()).limit(1))).first()

    async def lock_overdue_ids(
        self, session: AsyncSession, now: datetime, batch: int
    ) -> Sequence[uuid.UUID]:
        """Boarding tickets past arrival, oldest first, that no one else holds."""
        stmt = (
            select(Ticket.id)
            .where(Ticket.status == TicketStatus.BOARDING, Ticket.arrival_datetime <= now)
            .order_by(Ticket.arrival_datetime)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return (await session.scalars(stmt)).all()


tickets = Tickets(Ticket)


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def active_trips(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's boarding tickets and open stays, in one statement."""
    boarding = (
        select(func.count())
        .where(Ticket.user_id == user_id, Ticket.status == TicketStatus.BOARDING)
        .scalar_subquery()
    )
    staying = (
        select(func.count())
        .where(RoomStay.user_id == user_id, RoomStay.status.in_(ACTIVE_STAYS))
        .scalar_subquery()
    )
    return int((await session.execute(select(boarding + staying))).scalar_one())


# Stays and rooms


class Stays(Repository[RoomStay]):
    async def of_ticket(self, session: AsyncSession, ticket_id: uuid.UUID) -> RoomStay | None:
        stmt = self.select().where(RoomStay.ticket_id == ticket_id)
        return (await session.scalars(stmt)).one_or_none()

    async def active_of(
        self, session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
    ) -> RoomStay | None:
        stmt = self.select().where(RoomStay.user_id == user_id, RoomStay.status.in_(ACTIVE_STAYS))
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt)).one_or_none()

    async def is_member(
        self, session: AsyncSession, user_id: uuid.UUID, room_id: uuid.UUID
    ) -> bool:
        stmt = select(RoomStay.id).where(
            RoomStay.user_id == user_id,
            RoomStay.room_id == room_id,
            RoomStay.status.in_(ACTIVE_STAYS),
        )
        return (await session.execute(stmt)).first() is not None

    async def guests(
        self, session: AsyncSession, room_id: uuid.UUID
    ) -> list[tuple[User, RoomStay]]:
        """Guests now in the room, in check-in order."""
        stmt = (
            select(User, RoomStay)
            .join(RoomStay, RoomStay.user_id == User.id)
            .where(RoomStay.room_id == room_id, RoomStay.status.in_(ACTIVE_STAYS))
            .order_by(RoomStay.check_in_at)
        )
        return [(user, stay) for user, stay in (await session.execute(stmt)).all()]

    async def lock_expired(
        self, session: AsyncSession, now: datetime, batch: int
    ) -> Sequence[RoomStay]:
        """Open stays past check-out that no one else holds."""
        stmt = (
            self.select()
            .where(RoomStay.status.in_(ACTIVE_STAYS), RoomStay.scheduled_check_out_at <= now)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return (await session.scalars(stmt)).all()


stays = Stays(RoomStay)
rooms = Repository(Room)
guest_houses = Repository(GuestHouse)


async def lock_guest_house(session: AsyncSession, city_id: uuid.UUID) -> GuestHouse | None:
    """The city's first guesthouse, locked; the advisory lock on the city is held even when
    it has none yet."""
    await advisory_lock(session, f"b0:city:{city_id}")
    stmt = (
        select(GuestHouse)
        .where(GuestHouse.city_id == city_id)
        .order_by(GuestHouse.created_at, GuestHouse.id)
        .limit(1)
        .with_for_update()
    )
    return (await session.scalars(stmt)).one_or_none()


async def room_with_space(session: AsyncSession, house_id: uuid.UUID) -> uuid.UUID | None:
    """The first room of the guesthouse with a free bed."""
    stmt = (
        select(Room.id)
        .where(Room.guest_house_id == house_id, Room.current_occupancy < Room.capacity)
        .order_by(Room.created_at, Room.id)
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()


async def move_occupancy(session: AsyncSession, room_id: uuid.UUID, beds: int) -> None:
    """Add `beds` (±1) to the room's occupancy in SQL, so concurrent moves all count."""
    await session.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(current_occupancy=Room.current_occupancy + beds)
    )


# Diaries and the room chat


class Diaries(Repository[Diary]):
    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, request: PageRequest
    ) -> Page[Diary]:
        """Newest day first."""
        keys = (Diary.diary_date, Diary.id)
        return await self.page(session, Diary.user_id == user_id, request, keys, descending=True)


diaries = Diaries(Diary)
questions = Repository(Question)


async def questions_with_answers(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[Question, str | None]]:
    """Active questions in order, each with the user's answer if there is one."""
    stmt = (
        select(Question, Answer.content)
        .outerjoin(Answer, (Answer.question_id == Question.id) & (Answer.user_id == user_id))
        .where(Question.is_active.is_(True))
        .order_by(Question.display_order, Question.id)
    )
    return [(question, answer) for question, answer in (await session.execute(stmt)).all()]


class Messages(Repository[ChatMessage]):
    async def page_of(
        self, session: AsyncSession, room_id: uuid.UUID, request: PageRequest
    ) -> Page[ChatMessage]:
        """Newest first."""
        where, keys = ChatMessage.room_id == room_id, (ChatMessage.created_at, ChatMessage.id)
        return await self.page(session, where, request, keys, descending=True)


messages = Messages(ChatMessage)
