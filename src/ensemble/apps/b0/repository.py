"""B0 queries: the catalogue, tickets, stays and rooms, diaries, the room chat. No business
rules here: filters, locks, keyset pages and atomic statements."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import select, text, update
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
from ensemble.kernel.db.raw import read_one, transaction_connection
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


_USER_OF_IDENTITY = """
SELECT u.id FROM b0.users u JOIN b0.user_identities i ON i.user_id = u.id
WHERE i.provider = $1 AND i.provider_user_id = $2
"""


async def user_id_of(session: AsyncSession, provider: str, subject: str) -> uuid.UUID | None:
    """The user the provider's account is linked to (a lone read: `read_one`)."""
    row = await read_one(session, _USER_OF_IDENTITY, provider, subject)
    if row is None:
        return None
    user_id: uuid.UUID = row["id"]
    return user_id


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


# The purchase, in plain SQL on the request's transaction: the hottest write of the API

_BOARDING = TicketStatus.BOARDING.value
_STAYING = ", ".join(f"'{status.value}'" for status in ACTIVE_STAYS)


@dataclass(frozen=True)
class Destination:
    """An active city and airship: what a ticket's price, flight time and snapshots are of."""

    city_id: uuid.UUID
    city_name: str
    city_description: str | None
    city_image_url: str | None
    base_cost_points: int
    base_duration_hours: Decimal
    airship_id: uuid.UUID
    airship_name: str
    airship_description: str | None
    cost_factor: Decimal
    duration_factor: Decimal


@dataclass(frozen=True)
class LockedUser:
    """A user locked until the transaction ends, and the destination asked for (None when
    the city or the airship is missing or inactive)."""

    destination: Destination | None


_LOCK_USER = """
SELECT c.id AS city_id, c.name AS city_name, c.description AS city_description,
    c.image_url AS city_image_url, c.base_cost_points, c.base_duration_hours,
    a.id AS airship_id, a.name AS airship_name, a.description AS airship_description,
    a.cost_factor, a.duration_factor
FROM b0.users u
LEFT JOIN (b0.cities c JOIN b0.airships a ON a.id = $3 AND a.is_active)
    ON c.id = $2 AND c.is_active
WHERE u.id = $1
FOR UPDATE OF u
"""


async def lock_user(
    session: AsyncSession, user_id: uuid.UUID, city_id: uuid.UUID, airship_id: uuid.UUID
) -> LockedUser | None:
    """Lock the user (None if there is none) and read the destination in the same trip."""
    raw = await transaction_connection(session)
    row = await raw.fetchrow(_LOCK_USER, user_id, city_id, airship_id)
    if row is None:
        return None
    found = row["city_id"] is not None
    return LockedUser(Destination(**dict(row.items())) if found else None)


_ACTIVE_TRIPS = f"""
    (SELECT count(*) FROM b0.tickets WHERE user_id = $1 AND status = '{_BOARDING}')
    + (SELECT count(*) FROM b0.room_stays WHERE user_id = $1 AND status IN ({_STAYING}))
"""
"""The boarding tickets and open stays of user `$1`."""


async def active_trips(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's boarding tickets and open stays, in one statement."""
    raw = await transaction_connection(session)
    return int(await raw.fetchval(f"SELECT {_ACTIVE_TRIPS}", user_id))


_BOARD = f"""
WITH trips AS (SELECT {_ACTIVE_TRIPS} AS active), boarded AS (
    INSERT INTO b0.tickets (
        id, ticket_number, user_id, city_id, airship_id, city_snapshot, airship_snapshot,
        cost_points, status, departure_datetime, arrival_datetime, created_at, updated_at
    )
    SELECT $2::uuid, $3::varchar, $1::uuid, $4::uuid, $5::uuid, $6::text::jsonb,
        $7::text::jsonb, $8::int, $9::b0.ticket_status, $10::timestamptz, $11::timestamptz,
        $12::timestamptz, $13::timestamptz
    FROM trips
    WHERE $14::int IS NULL OR trips.active < $14::int
    ON CONFLICT (ticket_number) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT FROM boarded) AS boarded,
       $14::int IS NOT NULL AND (SELECT active FROM trips) >= $14::int AS full
"""


class Boarding(Enum):
    BOARDED = "boarded"
    FULL = "full"  # the user already has the most trips allowed
    NUMBER_TAKEN = "number_taken"  # another ticket holds this ticket number


async def board(session: AsyncSession, ticket: Ticket, max_active_trips: int | None) -> Boarding:
    """Write the new ticket (every column set; the session does not hold it) unless its user
    already has `max_active_trips` boarding tickets and open stays (None: no cap), counted
    in the same statement, or its ticket number is taken. Lock the user first: the count
    sees what committed before this statement, so it is exact only while the user is
    locked."""
    raw = await transaction_connection(session)
    row = await raw.fetchrow(
        _BOARD, ticket.user_id, ticket.id, ticket.ticket_number, ticket.city_id,
        ticket.airship_id, json.dumps(ticket.city_snapshot), json.dumps(ticket.airship_snapshot),
        ticket.cost_points, ticket.status.value, ticket.departure_datetime,
        ticket.arrival_datetime, ticket.created_at, ticket.updated_at, max_active_trips,
    )  # fmt: skip
    assert row is not None  # the statement always answers one row
    if row["boarded"]:
        return Boarding.BOARDED
    return Boarding.FULL if row["full"] else Boarding.NUMBER_TAKEN


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
