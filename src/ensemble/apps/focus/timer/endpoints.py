"""Timer routes: the commands, the current state and the server's clock."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.focus.auth import CurrentUser
from ensemble.apps.focus.domain import Command
from ensemble.apps.focus.events import timer_message
from ensemble.apps.focus.rooms import service as rooms
from ensemble.apps.focus.schemas import OWNED, PREFIX, errors
from ensemble.apps.focus.settings import FocusDep
from ensemble.apps.focus.timer import service
from ensemble.apps.focus.timer.schemas import ServerTime, TimerPublic
from ensemble.kernel.db import SessionDep, utcnow

router = APIRouter(prefix=PREFIX, tags=["timer"])

SeenVersion = Annotated[
    int | None,
    Query(ge=0, description="The timer version the command was decided on (a precondition)"),
]

DRIVE = (
    403,
    "Not a participant (`not_a_member`), or the room's `control` is `owner` and you are not"
    " its owner (`not_owner`)",
)
INVALID = (
    409,
    "Not allowed in the timer's state, or another command changed it first"
    " (`timer_invalid_transition`; `details.timer` is the state now)",
)


@router.post("/rooms/{room_id}/timer/{command}", responses=errors(*OWNED, DRIVE, INVALID))
async def drive(
    room_id: uuid.UUID,
    command: Command,
    user: CurrentUser,
    session: SessionDep,
    focus: FocusDep,
    version: SeenVersion = None,
) -> TimerPublic:
    """Drive the room's timer: `start` (idle → work), `pause`, `resume`, `skip` (ends the
    phase now), `reset` (→ idle). Every socket of the room hears the change right after it
    commits (`timer_started`, `timer_paused`, …).

    Send `?version=` (the timer's version you showed) so that a command decided on a state
    that has since changed is refused rather than applied twice: two members pressing
    `skip` on the same phase skip one phase, however far apart their requests arrive. The
    version also moves when a phase ends on time; on 409 show `details.timer` and let the
    member decide again."""
    room = await rooms.driven_room(session, room_id, user.account_id)
    now = utcnow()
    changed = await service.command(session, focus, room, command, now, version)
    return TimerPublic.model_validate(timer_message("timer", changed, now))


@router.get("/rooms/{room_id}/timer", responses=errors(*OWNED))
async def timer(room_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> TimerPublic:
    """The room's timer now (phases that ended on time already moved on)."""
    room = await rooms.visible_room(session, room_id, user.account_id)
    now = utcnow()
    return TimerPublic.model_validate(
        timer_message("timer", await service.current(session, room, now), now)
    )


@router.get("/time")
async def server_time() -> ServerTime:
    """The server's clock, for clients to estimate their offset (no token needed: clients
    sync before they sign in). Take `offset = server_now - (t0 + t1) / 2` with `t0`, `t1` the
    local send and receive times, from the sample with the shortest round trip."""
    return ServerTime(server_now=utcnow())
