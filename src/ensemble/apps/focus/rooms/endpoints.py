"""Room routes: rooms, their join code, membership, and the moderators' close and remove."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.focus.auth import CurrentUser, Moderator
from ensemble.apps.focus.rooms import service
from ensemble.apps.focus.rooms.schemas import (
    JoinRequest,
    KickRequest,
    MembershipPublic,
    ParticipantPublic,
    RoomCreate,
    RoomPublic,
    RoomUpdate,
    UserRef,
)
from ensemble.apps.focus.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.apps.focus.settings import FocusDep
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX, tags=["rooms"])

NOT_OWNER = (403, "Only the room's owner may do this (`not_owner`)")
NOT_A_MEMBER = (403, "Not a participant of this room (`not_a_member`)")
NO_PARTICIPANT = (404, "No such room (`room_not_found`) or participant (`participant_not_found`)")


@router.post("/rooms", status_code=201, responses=errors(*INPUT))
async def create_room(body: RoomCreate, user: CurrentUser, session: SessionDep) -> RoomPublic:
    """Open a room; you own it and are its first participant. Durations left out are those of
    your settings. A private room gets a `join_code`."""
    room = await service.create(session, user.account_id, body, utcnow())
    return RoomPublic.model_validate(room)


@router.get("/rooms", responses=errors(*INPUT))
async def list_rooms(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    public: bool | None = None,
    mine: bool = False,
    q: Annotated[
        str | None, Query(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = None,
) -> Page[RoomPublic]:
    """Rooms, newest first: the public ones and the private ones you are in (archived ones
    left out), or with `mine=true` the ones you are in or own (archived too). `public`
    keeps one visibility, `q` matches names."""
    rows = await service.rooms_for(session, user.account_id, page, public=public, mine=mine, q=q)
    return rows.map(RoomPublic.model_validate)


@router.get("/rooms/{room_id}", responses=errors(*OWNED))
async def get_room(room_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> RoomPublic:
    """A public room, or a private one you are in (others: 404)."""
    return RoomPublic.model_validate(await service.visible_room(session, room_id, user.account_id))


@router.patch(
    "/rooms/{room_id}",
    responses=errors(
        *OWNED, NOT_OWNER, (409, "Fewer seats than participants (`capacity_below_members`)")
    ),
)
async def update_room(
    room_id: uuid.UUID, body: RoomUpdate, user: CurrentUser, session: SessionDep, focus: FocusDep
) -> RoomPublic:
    """Change the room's settings (owner). A duration change applies from the next phase;
    the current phase keeps its end."""
    room = await service.owned_room(session, room_id, user.account_id, lock=True)
    return RoomPublic.model_validate(await service.update(session, focus, room, body.changes()))


@router.delete("/rooms/{room_id}", status_code=204, responses=errors(*OWNED, NOT_OWNER))
async def delete_room(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep, focus: FocusDep
) -> None:
    """Delete the room (owner): open sessions end, sockets hear `room_deleted` and close with
    4404. History stays."""
    room = await service.owned_room(session, room_id, user.account_id, lock=True)
    await service.delete(session, focus, room, user.account_id, utcnow())


@router.post(
    "/rooms/{room_id}/join-code",
    responses=errors(*OWNED, NOT_OWNER, (409, "A public room has no code (`room_not_private`)")),
)
async def rotate_join_code(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> RoomPublic:
    """A new join code for your private room; the old one stops working."""
    room = await service.owned_room(session, room_id, user.account_id, lock=True)
    return RoomPublic.model_validate(await service.rotate_join_code(session, room))


@router.post(
    "/rooms/{room_id}/join",
    responses=errors(
        *OWNED,
        (403, "Banned from the room (`banned`), or a wrong or missing code (`invalid_join_code`)"),
        (409, "No free seat (`room_full`)"),
    ),
)
async def join_room(
    room_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    focus: FocusDep,
    body: JoinRequest | None = None,
) -> MembershipPublic:
    """Join the room (`join_code` for a private one). Joining again answers the same
    membership."""
    code = body.join_code if body else None
    member = await service.join(session, focus, room_id, user.account_id, code, utcnow())
    return MembershipPublic.model_validate(member)


@router.post("/rooms/{room_id}/leave", status_code=204, responses=errors(*OWNED))
async def leave_room(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep, focus: FocusDep
) -> None:
    """Leave the room (nothing happens if you are not in it; a private room you are not in
    is 404, as if missing). If you own it, the participant present longest becomes the
    owner."""
    await service.leave(session, focus, room_id, user.account_id, utcnow())


@router.post("/rooms/{room_id}/transfer", responses=errors(*OWNED, NOT_OWNER, NO_PARTICIPANT))
async def transfer_room(
    room_id: uuid.UUID, body: UserRef, user: CurrentUser, session: SessionDep, focus: FocusDep
) -> RoomPublic:
    """Make another participant the owner (owner)."""
    room = await service.owned_room(session, room_id, user.account_id, lock=True)
    return RoomPublic.model_validate(await service.transfer(session, focus, room, body.user_id))


@router.post(
    "/rooms/{room_id}/kick",
    status_code=204,
    responses=errors(
        *OWNED, NOT_OWNER, NO_PARTICIPANT, (409, "Not yourself (`cannot_kick_yourself`)")
    ),
)
async def kick(
    room_id: uuid.UUID, body: KickRequest, user: CurrentUser, session: SessionDep, focus: FocusDep
) -> None:
    """Remove a participant (owner); `ban: true` keeps them from joining again."""
    room = await service.owned_room(session, room_id, user.account_id, lock=True)
    await service.kick(
        session, focus, room, body.user_id, ban=body.ban, by=user.account_id, now=utcnow()
    )


@router.get("/rooms/{room_id}/participants", responses=errors(*OWNED, NOT_A_MEMBER))
async def participants(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ParticipantPublic]:
    """The room's participants, longest present first (participants only)."""
    room = await service.member_room(session, room_id, user.account_id)
    rows = await service.participants(session, room, page)
    return rows.map(lambda row: ParticipantPublic.model_validate(service.participant(row, room)))


# Moderation

MODERATOR = (403, "Moderators and administrators only (`role_forbidden`)")


@router.post(
    "/admin/rooms/{room_id}/close",
    status_code=204,
    tags=["admin"],
    responses=errors(*OWNED, MODERATOR),
)
async def close_room(
    room_id: uuid.UUID, moderator: Moderator, session: SessionDep, focus: FocusDep
) -> None:
    """Close a room as its owner would delete it (moderators)."""
    room = await service.live_room(session, room_id, lock=True)
    await service.delete(session, focus, room, moderator.account_id, utcnow())


@router.delete(
    "/admin/rooms/{room_id}/participants/{user_id}",
    status_code=204,
    tags=["admin"],
    responses=errors(*OWNED, MODERATOR, NO_PARTICIPANT),
)
async def remove_participant(
    room_id: uuid.UUID,
    user_id: uuid.UUID,
    moderator: Moderator,
    session: SessionDep,
    focus: FocusDep,
) -> None:
    """Remove a participant from any room (moderators)."""
    room = await service.live_room(session, room_id, lock=True)
    await service.remove(session, focus, room, user_id, utcnow())
