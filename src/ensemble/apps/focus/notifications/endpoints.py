"""Notification routes: the inbox, read marks, push devices, and the user's socket
(`/ws/me`), where live DMs and notifications arrive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, WebSocket, status

from ensemble.apps.focus.auth import CurrentUser, principal_of
from ensemble.apps.focus.events import user_channel
from ensemble.apps.focus.messages.schemas import created_or_found, found
from ensemble.apps.focus.notifications import service
from ensemble.apps.focus.notifications.schemas import (
    TOKEN,
    DevicePublic,
    DeviceRegister,
    MarkedRead,
    MarkRead,
    NotificationPublic,
    UnreadCount,
)
from ensemble.apps.focus.schemas import INPUT, PREFIX, USER, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import Lease, authenticate_principal

router = APIRouter(prefix=PREFIX)


@router.get("/notifications", tags=["notifications"], responses=errors(*INPUT))
async def notifications(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
) -> Page[NotificationPublic]:
    """Your notifications, newest first."""
    rows = await service.inbox(session, user.account_id, page, unread=unread)
    return rows.map(NotificationPublic.model_validate)


@router.get("/notifications/unread-count", tags=["notifications"], responses=errors(*USER))
async def unread_count(user: CurrentUser, session: SessionDep) -> UnreadCount:
    return UnreadCount(unread_count=await service.unread_count(session, user.account_id))


@router.post("/notifications/read", tags=["notifications"], responses=errors(*INPUT))
async def mark_read(
    user: CurrentUser, session: SessionDep, body: MarkRead | None = None
) -> MarkedRead:
    """Mark notifications of yours read: those of `ids` (others' are ignored), or all."""
    ids = body.ids if body is not None else None
    marked, unread = await service.mark_read(session, user.account_id, ids)
    return MarkedRead(marked=marked, unread_count=unread)


@router.post(
    "/devices",
    status_code=status.HTTP_201_CREATED,
    tags=["devices"],
    responses={**errors(*INPUT), **found(DevicePublic, "Registered already (now yours)")},
)
async def register_device(
    body: DeviceRegister, user: CurrentUser, session: SessionDep, response: Response
) -> DevicePublic:
    """Receive push notifications on a device. A token registered by someone else before
    (a shared device) is yours now."""
    device, created = await service.register_device(
        session, user.account_id, body.token, body.platform
    )
    created_or_found(response, created)
    return DevicePublic.model_validate(device)


@router.delete(
    "/devices/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["devices"],
    responses=errors(*INPUT, (404, "No such device of yours (`device_not_found`)")),
)
async def unregister_device(
    token: Annotated[str, Path(**TOKEN)], user: CurrentUser, session: SessionDep
) -> None:
    """Stop push notifications on a device of yours."""
    await service.unregister_device(session, user.account_id, token)


@router.websocket("/ws/me")
async def my_socket(websocket: WebSocket) -> None:
    """Your live events, on every tab: `dm` (a message in one of your conversations, sent or
    received) and `notification`. The first frame, `ready`, comes once you are subscribed,
    with your unread notifications. Authenticate as every socket does (`?token=`, the
    `bearer` subprotocol, a header or a first `auth` message)."""
    database, hub = websocket.state.database, websocket.state.hub
    user = await authenticate_principal(websocket, principal_of)
    if user is None:
        return
    channel, member = user_channel(user.account_id), str(user.account_id)
    async with hub.connection(
        channel, websocket, member, Lease.of_claims(user.claims)
    ) as connection:
        async with database.unit_of_work() as session:
            unread = await service.unread_count(session, user.account_id)
        connection.send({"type": "ready", "user_id": member, "unread_notifications": unread})
        async for _ in connection.messages():
            pass  # nothing to say on this socket but pongs, which the hub takes
