"""Room use cases: create and list, settings, the join code, membership (join, leave, kick,
ban, transfer), delete and the moderators' close and remove. Never commit.

Membership rules:
- Capacity is exact under concurrency: a join adds its member row, then takes a seat with
  one guarded `UPDATE rooms ... WHERE member_count < max_participants`; a full room refuses
  it and the whole join rolls back.
- Joining twice is idempotent (the same membership); leaving when not a member does
  nothing. The owner may always join their room (no code, never banned).
- When the owner leaves (or is removed), ownership passes to the member who joined first.
  When the last member leaves, the room keeps its owner: they may come back and drive it,
  and it is paused when empty and archived when idle.
- Every removal closes the user's open focus session and their sockets on the room.
- Deleting (or closing) a room is soft: its row, members and sessions stay for history.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.events import AGGREGATE_ROOM, RoomCreated, disconnect_from_room, tell_room
from ensemble.apps.focus.models import Control, Member, Room, User, UserSettings, Visibility
from ensemble.apps.focus.rooms import repository
from ensemble.apps.focus.rooms.repository import members, rooms
from ensemble.apps.focus.rooms.schemas import RoomCreate, RoomPublic
from ensemble.apps.focus.settings import FocusResources
from ensemble.apps.focus.timer import service as timer
from ensemble.kernel.db.repository import insert
from ensemble.kernel.errors import Conflict, Forbidden, NotFound
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.pagination import Page, PageRequest
from ensemble.kernel.realtime import CLOSE_FORBIDDEN
from ensemble.kernel.schemas import Extended

CLOSE_ROOM_DELETED = 4404
"""The close code of a room's sockets when the room is deleted or closed."""
JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


class RoomNotFound(NotFound):
    code = "room_not_found"
    message = "No such room, or it is private and you are not in it."


class NotAMember(Forbidden):
    code = "not_a_member"
    message = "You are not a participant of this room."


class NotOwner(Forbidden):
    code = "not_owner"
    message = "Only the room's owner may do this."


class Banned(Forbidden):
    code = "banned"
    message = "You are banned from this room."


class InvalidJoinCode(Forbidden):
    code = "invalid_join_code"
    message = "This private room needs its join code."


class RoomFull(Conflict):
    code = "room_full"
    message = "The room has no free seat."


class ParticipantNotFound(NotFound):
    code = "participant_not_found"
    message = "That user is not a participant of this room."


class CapacityBelowMembers(Conflict):
    code = "capacity_below_members"
    message = "The room has more participants than that."


class NotPrivate(Conflict):
    code = "room_not_private"
    message = "Only a private room has a join code."


class CannotKickYourself(Conflict):
    code = "cannot_kick_yourself"
    message = "Leave the room instead."


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


# Access


async def live_room(session: AsyncSession, room_id: uuid.UUID, *, lock: bool = False) -> Room:
    """The room unless deleted (404 `room_not_found`)."""
    room = await rooms.live(session, room_id, lock=lock)
    if room is None:
        raise RoomNotFound()
    return room


async def is_member(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return await members.of(session, room_id, user_id) is not None


async def visible_room(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> Room:
    """A public room, or a private one the user is in or owns (else 404, as if missing)."""
    room = await live_room(session, room_id)
    private = room.visibility is Visibility.PRIVATE and room.owner_id != user_id
    if private and not await is_member(session, room_id, user_id):
        raise RoomNotFound()
    return room


async def member_room(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> Room:
    """A room the user is in (403 `not_a_member`; 404 if they may not even see it)."""
    room = await live_room(session, room_id)
    if not await is_member(session, room_id, user_id):
        if room.visibility is Visibility.PRIVATE and room.owner_id != user_id:
            raise RoomNotFound()
        raise NotAMember()
    return room


async def owned_room(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> Room:
    """A room the user owns (403 `not_owner`)."""
    room = await live_room(session, room_id, lock=lock)
    if room.owner_id != user_id:
        await visible_room(session, room_id, user_id)
        raise NotOwner()
    return room


async def driven_room(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> Room:
    """A room whose timer the user may drive: its owner, or any member when `control` is
    `everyone` (403 `not_a_member` / `not_owner`)."""
    room = await member_room(session, room_id, user_id)
    if room.control is Control.OWNER and room.owner_id != user_id:
        raise NotOwner()
    return room


# Rooms


async def create(
    session: AsyncSession, owner_id: uuid.UUID, body: RoomCreate, now: datetime
) -> Room:
    """A new room owned (and joined) by its creator, with an idle timer; durations not given
    are the creator's defaults. `RoomCreated` goes out with it."""
    defaults = await session.get(UserSettings, owner_id)
    assert defaults is not None, "every user has settings"
    room = await insert(
        session,
        Room(
            owner_id=owner_id,
            name=body.name,
            work_minutes=body.work_minutes or defaults.work_minutes,
            break_minutes=body.break_minutes or defaults.break_minutes,
            long_break_minutes=body.long_break_minutes or defaults.long_break_minutes,
            long_break_every=body.long_break_every,
            max_participants=body.max_participants,
            member_count=1,
            visibility=body.visibility,
            join_code=new_join_code() if body.visibility is Visibility.PRIVATE else None,
            control=body.control,
            auto_start_breaks=body.auto_start_breaks,
            created_at=now,
            last_active_at=now,
        ),
    )
    timer.create(session, room)
    session.add(Member(room_id=room.id, user_id=owner_id, joined_at=now))
    created = RoomCreated(room_id=room.id, owner_id=owner_id, created_at=now)
    await publish(
        session, Envelope.of(created, aggregate_type=AGGREGATE_ROOM, aggregate_id=str(room.id))
    )
    await session.flush()
    return room


async def rooms_for(
    session: AsyncSession,
    user_id: uuid.UUID,
    page: PageRequest,
    *,
    public: bool | None = None,
    mine: bool = False,
    q: str | None = None,
) -> Page[Room]:
    return await rooms.page_for(session, user_id, page, public=public, mine=mine, q=q)


async def update(
    session: AsyncSession, resources: FocusResources, room: Room, changes: dict[str, Any]
) -> Room:
    """Change the settings of a room (locked by the caller). Durations apply from the next
    phase: the running one keeps its end. Going private gives a join code, going public
    drops it. `room_updated` goes to the room."""
    seats = changes.get("max_participants")
    if seats is not None and seats < room.member_count:
        raise CapacityBelowMembers(details={"member_count": room.member_count})
    for field, value in changes.items():
        setattr(room, field, value)
    if room.visibility is Visibility.PRIVATE and room.join_code is None:
        room.join_code = new_join_code()
    elif room.visibility is Visibility.PUBLIC:
        room.join_code = None
    await session.flush()
    _room_updated(session, resources, room)
    return room


async def rotate_join_code(session: AsyncSession, room: Room) -> Room:
    """A new join code for a private room (the old one stops working; members stay)."""
    if room.visibility is not Visibility.PRIVATE:
        raise NotPrivate()
    room.join_code = new_join_code()
    await session.flush()
    return room


async def delete(
    session: AsyncSession, resources: FocusResources, room: Room, by: uuid.UUID, now: datetime
) -> None:
    """Soft-delete the room: its open sessions end (`room_deleted`), its timer stops, and
    after the commit its sockets hear `room_deleted`, then close with 4404."""
    room.deleted_at, room.deleted_by = now, by
    await timer.end(session, room, now)
    await session.flush()
    listeners = await members.user_ids(session, room.id)
    tell_room(
        session, resources, room.id, lambda: {"type": "room_deleted", "room_id": str(room.id)}
    )
    disconnect_from_room(session, resources, room.id, listeners, CLOSE_ROOM_DELETED, "room_deleted")


def _room_updated(session: AsyncSession, resources: FocusResources, room: Room) -> None:
    """`room_updated` with the room as anyone in it sees it (no join code on the wire)."""
    shown = RoomPublic.model_validate(Extended(room, join_code=None)).model_dump(mode="json")
    tell_room(session, resources, room.id, lambda: {"type": "room_updated", "room": shown})


# Membership


async def join(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    user_id: uuid.UUID,
    join_code: str | None,
    now: datetime,
) -> Member:
    """Join the room (idempotent): 403 `banned` / `invalid_join_code`, 409 `room_full`.
    Someone joining during a work phase gets its session; `participant_joined` goes out."""
    room = await live_room(session, room_id)
    existing = await members.of(session, room_id, user_id)
    if existing is not None:
        return existing
    if room.owner_id != user_id:
        if await repository.is_banned(session, room_id, user_id):
            raise Banned()
        if room.visibility is Visibility.PRIVATE and not _code_matches(room, join_code):
            raise InvalidJoinCode()
    if await members.add(session, room_id, user_id, now):
        count = await rooms.take_seat(session, room_id, now)
        if count is None:
            raise RoomFull(details={"max_participants": room.max_participants})
        await timer.open_for(session, room, user_id, now)
        await _participant(session, resources, room_id, user_id, "participant_joined", count)
    member = await members.of(session, room_id, user_id)
    assert member is not None
    return member


def _code_matches(room: Room, given: str | None) -> bool:
    if given is None or room.join_code is None:
        return False
    return hmac.compare_digest(given.upper().encode(), room.join_code.encode())


async def leave(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    """Leave the room (nothing if not in it; 404 for a private room the user may not see,
    as every route answers it)."""
    room = await live_room(session, room_id, lock=True)
    if not await _remove(session, resources, room, user_id, now, reason="left"):
        await visible_room(session, room_id, user_id)


async def kick(
    session: AsyncSession,
    resources: FocusResources,
    room: Room,
    user_id: uuid.UUID,
    *,
    ban: bool,
    by: uuid.UUID,
    now: datetime,
) -> None:
    """Remove a participant (the owner's; `ban` keeps them out). Banning someone who is not
    in the room is allowed; kicking them without a ban is 404 `participant_not_found`."""
    if user_id == room.owner_id:
        raise CannotKickYourself()
    if ban:
        await repository.ban(session, room.id, user_id, by, now)
    removed = await _remove(session, resources, room, user_id, now, reason="kicked")
    if not removed and not ban:
        raise ParticipantNotFound()


async def remove(
    session: AsyncSession, resources: FocusResources, room: Room, user_id: uuid.UUID, now: datetime
) -> None:
    """A moderator removes a participant (404 `participant_not_found`)."""
    if not await _remove(session, resources, room, user_id, now, reason="removed"):
        raise ParticipantNotFound()


async def _remove(
    session: AsyncSession,
    resources: FocusResources,
    room: Room,
    user_id: uuid.UUID,
    now: datetime,
    *,
    reason: str,
) -> bool:
    """End a membership (the room is locked): the seat frees, the open session closes, an
    owner's room passes to the longest present, `participant_left` goes out and the user's
    sockets on the room close. Whether they were a member."""
    if not await members.remove(session, room.id, user_id):
        return False
    count = await rooms.free_seat(session, room.id)
    await timer.close_for(session, room.id, user_id, now, reason=reason)
    if room.owner_id == user_id:
        successor = await members.longest_present(session, room.id)
        if successor is not None:
            room.owner_id = successor
            await session.flush()
            _room_updated(session, resources, room)
    await _participant(
        session, resources, room.id, user_id, "participant_left", count, reason=reason
    )
    disconnect_from_room(session, resources, room.id, [user_id], CLOSE_FORBIDDEN, reason)
    return True


async def _participant(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
    member_count: int,
    **extra: str,
) -> None:
    user = await session.get(User, user_id)
    body = {
        "type": kind,
        "room_id": str(room_id),
        "user_id": str(user_id),
        "display_name": user.display_name if user else None,
        "member_count": member_count,
        **extra,
    }
    tell_room(session, resources, room_id, lambda: body)


async def transfer(
    session: AsyncSession, resources: FocusResources, room: Room, to: uuid.UUID
) -> Room:
    """Make a participant the owner (404 `participant_not_found`); `room_updated` goes out."""
    if to != room.owner_id:
        if not await is_member(session, room.id, to):
            raise ParticipantNotFound()
        room.owner_id = to
        await session.flush()
        _room_updated(session, resources, room)
    return room


async def participants(session: AsyncSession, room: Room, page: PageRequest) -> Page[Any]:
    """The room's participants, longest present first (rows of a member and a display
    name: `participant` shapes each)."""
    return await members.page_of(session, room.id, page)


def participant(row: Any, room: Room) -> Extended:
    """A participant row as `ParticipantPublic` reads it: with its name and whether it owns
    the room."""
    member: Member = row.Member
    return Extended(member, display_name=row.display_name, is_owner=member.user_id == room.owner_id)
