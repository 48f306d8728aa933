"""The room socket and the room chat history.

`WS /ws/rooms/{room_id}?token=` (and the seed's `/ws/{room_id}`): a participant's live view
of the room. The first frame is `room_state` (a snapshot with `seq`); then every numbered
room message. The client sends `ping {t0}` (answered `pong {t0, t1, t2}`), `presence
{status}`, `chat {text}` and `sync` (a fresh `room_state`); a frame it got wrong is answered
`{"type": "error", "code": ...}` and the socket stays open.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket

from ensemble.apps.focus.auth import CurrentUser, principal_of
from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.live import service
from ensemble.apps.focus.live.presence import Presence, Socket, Status
from ensemble.apps.focus.live.schemas import ChatMessagePublic
from ensemble.apps.focus.schemas import OWNED, PREFIX, errors
from ensemble.apps.focus.settings import FocusDep
from ensemble.kernel.db import Database, SessionDep
from ensemble.kernel.errors import AppError, NotFound
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import (
    CLOSE_FORBIDDEN,
    CLOSE_TRY_AGAIN_LATER,
    Connection,
    Lease,
    Publisher,
    authenticate_principal,
    refuse,
)

router = APIRouter(prefix=PREFIX, tags=["live"])

CLOSE_NOT_FOUND = 4404
"""The room is not there (deleted, or never was)."""
PRESENCE_STATUSES = {Status.ONLINE.value, Status.AWAY.value}


@router.get(
    "/rooms/{room_id}/messages",
    responses=errors(*OWNED, (403, "Not a participant (`not_a_member`, `banned`)")),
)
async def room_messages(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatMessagePublic]:
    """The room's chat, newest first (participants only)."""
    rows = await service.history(session, room_id, user.account_id, page)
    return rows.map(ChatMessagePublic.model_validate)


@router.websocket("/ws/rooms/{room_id:uuid}")
@router.websocket("/ws/{room_id:uuid}")
async def room_socket(websocket: WebSocket, room_id: uuid.UUID, focus: FocusDep) -> None:
    """A participant's live room (see the module's docstring)."""
    user = await authenticate_principal(websocket, principal_of)
    if user is None:
        return None
    database, hub = websocket.state.database, websocket.state.hub
    if hub is None or focus.presence is None or focus.publisher is None:
        return await refuse(websocket, CLOSE_TRY_AGAIN_LATER, "unavailable")
    try:
        async with database.unit_of_work() as session:
            await service.require_member(session, room_id, user.account_id)
    except AppError as exc:
        return await refuse(websocket, _close_code(exc), exc.code)
    presence = focus.presence
    socket = await presence.arrive(database, room_id, user.account_id)
    live = _Live(database, focus.publisher, presence, socket)
    try:
        async with hub.connection(
            room_channel(room_id),
            websocket,
            str(user.account_id),
            Lease.of_claims(user.claims),
            greeting=live.snapshot,
            share_greeting=True,  # the room's snapshot: sockets joining together share one
        ) as connection:
            await _converse(live, connection)
    finally:
        await presence.leave(socket)


def _close_code(error: AppError) -> int:
    return CLOSE_NOT_FOUND if isinstance(error, NotFound) else CLOSE_FORBIDDEN


@dataclass(frozen=True)
class _Live:
    """One socket's room, user and what it talks to."""

    database: Database
    publisher: Publisher
    presence: Presence
    socket: Socket

    async def snapshot(self) -> dict[str, Any]:
        return await service.room_state(
            self.database, self.publisher, self.presence, self.socket.room_id
        )


Frame = dict[str, Any]
Handler = Callable[[_Live, Connection, Frame, int], Awaitable[None]]


async def _converse(live: _Live, connection: Connection) -> None:
    """Answer the client's frames until it leaves (or the room turns it away)."""
    async for frame in connection.messages():
        received_ms = service.epoch_ms()
        handler = _HANDLERS.get(frame.get("type"))
        if handler is None:
            connection.send(_error("unknown_type"))
            continue
        try:
            await handler(live, connection, frame, received_ms)
        except AppError as exc:  # deleted, or no longer a participant: the socket ends
            connection.close(_close_code(exc), exc.code)


def _error(code: str) -> Frame:
    return {"type": "error", "code": code}


async def _ping(live: _Live, connection: Connection, frame: Frame, received_ms: int) -> None:
    t0 = frame.get("t0")
    if isinstance(t0, bool) or not isinstance(t0, int | float):
        connection.send(_error("invalid_ping"))
        return
    connection.send(service.pong(t0, received_ms))


async def _presence(live: _Live, connection: Connection, frame: Frame, _: int) -> None:
    status = frame.get("status")
    if status not in PRESENCE_STATUSES:
        connection.send(_error("invalid_presence"))
        return
    await live.presence.set_status(live.socket, Status(status))


async def _chat(live: _Live, connection: Connection, frame: Frame, _: int) -> None:
    text = frame.get("text")
    if not service.is_chat_text(text):
        connection.send(_error("invalid_chat"))
        return
    room_id, user_id = live.socket.room_id, live.socket.user_id
    async with live.database.unit_of_work() as session:
        message = await service.post_chat(session, room_id, user_id, text)
    await live.publisher.publish_numbered(room_channel(room_id), service.chat_message(message))


async def _sync(live: _Live, connection: Connection, frame: Frame, _: int) -> None:
    connection.send(await live.snapshot())


_HANDLERS: dict[Any, Handler] = {
    "ping": _ping,
    "presence": _presence,
    "chat": _chat,
    "sync": _sync,
}
