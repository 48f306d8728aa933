"""ECO² profile and notification routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ensemble.apps.eco.auth import CurrentUser, principal_of
from ensemble.apps.eco.my import service
from ensemble.apps.eco.schemas import (
    INPUT,
    PREFIX,
    USER,
    NotificationPublic,
    ProfilePublic,
    ProfileUpdate,
    errors,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import Lease, authenticate_principal

router = APIRouter(prefix=PREFIX, tags=["my"])


@router.get("/my/profile", responses=errors(*USER))
async def get_profile(user: CurrentUser, session: SessionDep) -> ProfilePublic:
    return ProfilePublic.model_validate(await service.profile(session, user.account_id))


@router.patch("/my/profile", responses=errors(*INPUT))
async def update_profile(
    body: ProfileUpdate, user: CurrentUser, session: SessionDep
) -> ProfilePublic:
    return ProfilePublic.model_validate(
        await service.rename(session, user.account_id, body.nickname)
    )


@router.get("/notifications", responses=errors(*INPUT))
async def notifications(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[NotificationPublic]:
    """What the saga told you, newest first."""
    return (await service.notifications(session, user.account_id, page)).map(
        NotificationPublic.model_validate
    )


@router.websocket("/ws/notifications")
async def notification_socket(websocket: WebSocket) -> None:
    """Notifications and chat answers as they happen (`?token=<access token>`)."""
    user = await authenticate_principal(websocket, principal_of)
    if user is None:
        return
    channel, lease = service.notification_channel(user.account_id), Lease.of_claims(user.claims)
    async with websocket.state.hub.connection(
        channel, websocket, str(user.account_id), lease
    ) as connection:
        async for _ in connection.messages():
            pass  # the channel only speaks to the client
