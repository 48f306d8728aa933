"""Notification routes: your inbox (list, unread count, read marks), your mute settings, and
your live stream over Server-Sent Events (`/notifications/stream`) or a WebSocket
(`/ws/notifications`)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from ensemble.apps.casino.auth import CurrentUser, principal_of
from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications import service
from ensemble.apps.casino.notifications.domain import EndReason, Event
from ensemble.apps.casino.notifications.feed import Deadline, Stream
from ensemble.apps.casino.notifications.live import Relay
from ensemble.apps.casino.notifications.schemas import (
    MAX_ID,
    MarkedRead,
    MarkRead,
    NotificationPublic,
    NotificationSettingsBody,
    NotificationSettingsPublic,
    UnreadCount,
)
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.apps.casino.settings import CASINO, CasinoDep, CasinoResources
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.identity.principal import (
    AccessCredentials,
    Principal,
    required_token,
    resolve_principal,
)
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import (
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    Lease,
    authenticate_principal,
    refuse,
)
from ensemble.kernel.redis import RedisUnavailable
from ensemble.kernel.schemas import IntegerLiteral

router = APIRouter(prefix=PREFIX)

CLOSE_INVALID = 1008
"""The WebSocket's close code for a query it cannot take (`?after=` not an id)."""
NEVER = Deadline(math.inf, EndReason.LIFETIME)
STREAM_ERRORS = errors(*INPUT, (503, "No Redis to deliver live messages (`redis_unavailable`)"))

After = Annotated[
    int | None,
    Query(ge=0, le=MAX_ID, description="Replay what came after this id first"),
    IntegerLiteral,
]


@router.get("/notifications", tags=["notifications"], responses=errors(*INPUT))
async def notifications(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
    category: NotificationCategory | None = None,
) -> Page[NotificationPublic]:
    """Your notifications, newest first (unread ones, or of one `category`, if asked)."""
    found = await service.inbox(session, user.account_id, page, unread=unread, category=category)
    return found.map(NotificationPublic.model_validate)


@router.get("/notifications/unread-count", tags=["notifications"], responses=errors(*USER))
async def unread_count(user: CurrentUser, session: SessionDep) -> UnreadCount:
    return UnreadCount(unread_count=await service.unread_count(session, user.account_id))


@router.post("/notifications/read", tags=["notifications"], responses=errors(*INPUT))
async def mark_read(user: CurrentUser, session: SessionDep, body: MarkRead) -> MarkedRead:
    """Mark notifications of yours read (ids you do not have are ignored)."""
    marked, unread = await service.mark_read(session, user.account_id, body.ids, now=utcnow())
    return MarkedRead(marked=marked, unread_count=unread)


@router.post("/notifications/read-all", tags=["notifications"], responses=errors(*USER))
async def mark_all_read(user: CurrentUser, session: SessionDep) -> MarkedRead:
    marked, unread = await service.mark_read(session, user.account_id, None, now=utcnow())
    return MarkedRead(marked=marked, unread_count=unread)


@router.get("/notifications/settings", tags=["notifications"], responses=errors(*USER))
async def notification_settings(
    user: CurrentUser, session: SessionDep
) -> NotificationSettingsPublic:
    """The categories you muted on the live stream, push and e-mail."""
    found = await service.mutes(session, user.account_id)
    return NotificationSettingsPublic.model_validate(found.lists())


@router.put(
    "/notifications/settings",
    tags=["notifications"],
    responses=errors(*INPUT),
)
async def set_notification_settings(
    body: NotificationSettingsBody, user: CurrentUser, session: SessionDep
) -> NotificationSettingsPublic:
    """Replace your mutes. Muted messages still land in your inbox; 422
    `category_not_mutable` for `responsible_play`."""
    wanted = service.Mutes(
        frozenset(body.muted_live), frozenset(body.muted_push), frozenset(body.muted_email)
    )
    saved = await service.set_mutes(session, user.account_id, wanted)
    return NotificationSettingsPublic.model_validate(saved.lists())


def _relay(casino: CasinoResources) -> Relay:
    if casino.notifications is None:
        raise RedisUnavailable()
    return casino.notifications


async def _stream_caller(
    request: Request,
    credentials: AccessCredentials,
    session: SessionDep,
    token: Annotated[
        str | None,
        Query(
            description="Your access token, for a browser `EventSource`, which cannot send an"
            " `Authorization` header (the header wins when both are given)"
        ),
    ] = None,
) -> Principal:
    given = required_token(credentials) if credentials is not None or not token else token
    return await resolve_principal(principal_of, request, session, given)


StreamCaller = Annotated[Principal, Depends(_stream_caller)]
"""The caller of the stream, by the `Authorization` header or the `token` query parameter
(access logs never show its value)."""


@router.get(
    "/notifications/stream",
    tags=["notifications"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **STREAM_ERRORS},
)
async def notification_stream(
    user: StreamCaller,
    request: Request,
    casino: CasinoDep,
    after: After = None,
    last_event_id: Annotated[
        int | None,
        Header(ge=0, le=MAX_ID, description="The last id received (an `EventSource` resuming)"),
        IntegerLiteral,
    ] = None,
) -> StreamingResponse:
    """Your notifications live, as Server-Sent Events: `ready` (`id` = where the stream
    starts), then each `notification` (`id` = its id), `heartbeat`s every
    `CASINO_NOTIFICATION_HEARTBEAT_SECONDS`. Resuming with `Last-Event-ID` (or `?after=`)
    replays what you missed first; past the retention window you get one `resync` (re-read
    the inbox) instead. The stream ends after `CASINO_NOTIFICATION_STREAM_SECONDS` or at the
    token's expiry: reconnect with the last id."""
    settings = casino.settings
    lifetime = Deadline(time.monotonic() + settings.notification_stream_seconds, EndReason.LIFETIME)
    stream = Stream(
        _relay(casino),
        request.state.database,
        user.account_id,
        last_event_id if last_event_id is not None else after,
        settings.notification_heartbeat_seconds,
        Deadline.earliest(lifetime, Deadline.token_expiry(Lease.of_claims(user.claims).expires_at)),
        Lease.of_claims(user.claims).session_id,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_sse(stream), media_type="text/event-stream", headers=headers)


async def _sse(stream: Stream) -> AsyncIterator[bytes]:
    first = True
    async for frame in stream.frames():
        if frame.event is Event.END:
            return
        yield frame.sse(retry=first)
        first = False


@router.websocket("/ws/notifications")
async def notification_socket(websocket: WebSocket) -> None:
    """Your notifications live over a WebSocket, the same frames as the SSE stream as JSON
    (`{"type": "notification", "id": …}`); `?after=` replays what you missed. Authenticate as
    every socket does (`?token=`, the `bearer` subprotocol, a header or a first `auth`
    message): 4401 refused; closed with 4401 at the token's expiry or when its session is
    revoked; 1008 for an `after` that is no id."""
    user = await authenticate_principal(websocket, principal_of)
    if user is None:
        return
    try:
        after = _after(websocket.query_params.get("after"))
    except ValueError:
        await refuse(websocket, CLOSE_INVALID, "validation_error")
        return
    casino = CASINO.of(websocket)
    if casino.notifications is None:
        await refuse(websocket, CLOSE_TRY_AGAIN_LATER, "redis_unavailable")
        return
    lease = Lease.of_claims(user.claims)
    stream = Stream(
        casino.notifications,
        websocket.state.database,
        user.account_id,
        after,
        casino.settings.notification_heartbeat_seconds,
        Deadline.token_expiry(lease.expires_at) or NEVER,
        lease.session_id,
    )
    await _serve_socket(websocket, stream)


def _after(raw: str | None) -> int | None:
    """`?after=` as an id, None when absent; ValueError when it is no id."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        raise ValueError(raw)
    return int(raw)


async def _serve_socket(websocket: WebSocket, stream: Stream) -> None:
    """Send the stream's frames while draining what the client sends, until either ends."""
    tasks = {
        asyncio.create_task(_pump(websocket, stream)),
        asyncio.create_task(_drain(websocket)),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(websocket: WebSocket, stream: Stream) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        async for frame in stream.frames():
            if frame.event is Event.END:
                await websocket.close(CLOSE_UNAUTHENTICATED, str(frame.data["reason"]))
                return
            await websocket.send_text(frame.socket_text())


async def _drain(websocket: WebSocket) -> None:
    """Read (and drop) the client's frames until it goes."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
