"""ECO² HTTP and WebSocket routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, WebSocket, status
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import characters, chat, images, locations, my, read_models, scan, service
from ensemble.apps.eco.auth import (
    REALM,
    CurrentUser,
    admin_resolver,
    claims_of,
    current_principal,
    principal_of,
)
from ensemble.apps.eco.models import Upload
from ensemble.apps.eco.schemas import (
    CentrePublic,
    CharacterPublic,
    ChatMessageAccepted,
    ChatMessageCreate,
    ChatMessagePublic,
    ChatSessionCreate,
    ChatSessionPublic,
    ClassifyAccepted,
    ClassifyRequest,
    ImagePublic,
    NotificationPublic,
    OwnedCharacters,
    PresignRequest,
    PresignResponse,
    ProfilePublic,
    ProfileUpdate,
    Ranking,
    RegisterRequest,
    ScanHistoryItem,
    ScanTask,
    UserPublic,
)
from ensemble.apps.eco.settings import EcoDep
from ensemble.apps.eco.storage import LocalStorage
from ensemble.kernel.db import SessionDep
from ensemble.kernel.edge import allow_body
from ensemble.kernel.errors import AppError
from ensemble.kernel.events.dlq import dlq_router
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.router import Signup, auth_router
from ensemble.kernel.openapi import Responses, error_responses
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import Lease, authenticate_principal
from ensemble.kernel.redis import RedisDep
from ensemble.kernel.schemas import Extended, Instant, IntegerLiteral

PREFIX = "/api/v1"
_DESCRIBED = {
    401: "No valid access token (missing, expired, revoked or forged), or the account is"
    " disabled (`account_disabled`)",
    403: "Not an administrator (`role_forbidden`)",
    404: "No such item, or not yours",
    422: "Invalid input (`validation_error`, `invalid_cursor`, …)",
}


def _errors(*errors: int | tuple[int, str]) -> Responses:
    """`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""
    return error_responses(*errors, described=_DESCRIBED)


_USER = (401,)
_INPUT = (401, 422)
_OWNED = (401, 404, 422)
router = APIRouter(prefix=PREFIX)
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


# Auth


async def _signed_up(session: AsyncSession, account: Account) -> UserPublic:
    user = await service.add_user(session, account)
    return UserPublic.model_validate(Extended(account, role=user.role))


router.include_router(
    auth_router(
        REALM,
        claims_of,
        signup=Signup(UserPublic, _signed_up),
        on_login=service.audit,
        logout_by=current_principal,
    )
)


@router.get("/auth/me", tags=["auth"], responses=_errors(*_USER))
async def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    account = await service.account_of(session, user.account_id)
    return UserPublic.model_validate(Extended(account, role=user.role))


# Images


@router.post(
    "/images/presigned-url",
    status_code=status.HTTP_201_CREATED,
    tags=["images"],
    responses=_errors(*_INPUT),
)
async def presigned_url(
    body: PresignRequest, request: Request, user: CurrentUser, session: SessionDep, eco: EcoDep
) -> PresignResponse:
    """A signed URL to PUT the photo's bytes to, valid for 15 minutes."""
    upload = await images.presign(
        session,
        user_id=user.account_id,
        content_type=body.content_type,
        size=body.size,
        filename=body.filename,
        settings=eco.settings,
    )
    target = eco.storage.upload_target(
        upload_id=upload.id,
        key=upload.storage_key,
        content_type=upload.content_type,
        size=upload.size,
        expires_at=upload.expires_at,
        local_url=str(request.url_for("upload_bytes", upload_id=upload.id)),
    )
    return PresignResponse(
        upload_id=upload.id,
        upload_url=target.url,
        headers=target.headers,
        expires_at=upload.expires_at,
    )


@router.put(
    "/images/uploads/{upload_id}",
    name="upload_bytes",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["images"],
    responses=_errors(
        (400, "Photos go to the object store, not here (`upload_not_here`)"),
        (403, "The URL's signature is not valid (`invalid_signature`)"),
        (409, "The upload already has its bytes (`upload_already_received`)"),
        (410, "The URL has expired (`upload_expired`)"),
        (413, "Larger than `ECO_UPLOAD_MAX_BYTES`"),
        (422, "Not the type or size requested, or bad query parameters"),
    ),
)
async def upload_bytes(
    upload_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    eco: EcoDep,
    expires: Annotated[int, Query(ge=0, le=2**40), IntegerLiteral],
    signature: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-f]+$")],
) -> Response:
    """The presigned upload target (local storage): the raw bytes, as requested. The URL is
    checked before the body is read, and the body is read only up to the requested size."""
    storage = eco.storage
    if not isinstance(storage, LocalStorage):
        raise AppError("Uploads go to the object store.", code="upload_not_here")
    upload = await images.authorize_upload(
        session,
        storage,
        upload_id=upload_id,
        expires=expires,
        signature=signature,
        content_type=request.headers.get("content-type"),
    )
    allow_body(request, eco.settings.upload_max_bytes)
    await images.receive(session, storage, upload, await _body_up_to(request, upload))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _body_up_to(request: Request, upload: Upload) -> bytes:
    """The request's body, refused as soon as it grows past the upload's size."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > upload.size:
            raise images.size_mismatch(upload, len(body))
    return bytes(body)


@router.post(
    "/images/register",
    status_code=status.HTTP_201_CREATED,
    tags=["images"],
    responses=_errors(
        *_INPUT,
        (404, "No such upload of yours (`upload_not_found`)"),
        (409, "The bytes have not been uploaded yet (`upload_incomplete`)"),
        (410, "The upload expired before its bytes came (`upload_expired`)"),
    ),
)
async def register_image(
    body: RegisterRequest, user: CurrentUser, session: SessionDep, eco: EcoDep
) -> ImagePublic:
    """Register an uploaded photo (or a CDN URL) as an image: `ImageRegistered` is published."""
    if body.upload_id is not None:
        image = await images.register_upload(
            session, eco.storage, user_id=user.account_id, upload_id=body.upload_id
        )
    else:
        image = await images.register_url(session, user_id=user.account_id, url=str(body.cdn_url))
    return ImagePublic.model_validate(image)


# Scan


@router.post(
    "/scan/classify",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["scan"],
    responses=_errors(
        *_INPUT, (409, "The Idempotency-Key was used with another body (`idempotency_key_reused`)")
    ),
)
async def classify(
    body: ClassifyRequest,
    user: CurrentUser,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> ClassifyAccepted:
    """Start classifying (answers at once); the same `Idempotency-Key` returns the same task."""
    found = await scan.request(
        session,
        user_id=user.account_id,
        body=body,
        idempotency_key=idempotency_key,
    )
    return ClassifyAccepted.model_validate(found)


@router.get("/scan/tasks/{task_id}", tags=["scan"], responses=_errors(*_OWNED))
async def scan_task(task_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ScanTask:
    """`processing`, then `completed` (category, guide, confidence, reward) or `failed`."""
    found = await scan.task_of(session, user.account_id, task_id)
    rewarded = found.reward_status is not None  # the row's `reward_*` columns are its reward
    return ScanTask.model_validate(Extended(found, reward=found if rewarded else None))


@router.get("/scan/history", tags=["scan"], responses=_errors(*_INPUT))
async def scan_history(user: CurrentUser, page: PageDep, redis: RedisDep) -> Page[ScanHistoryItem]:
    """The caller's scans, newest first (read model)."""
    return await read_models.scan_history(redis, user.account_id, page)


@router.get("/scan/stats", tags=["scan"], responses=_errors(*_USER))
async def scan_stats(user: CurrentUser, redis: RedisDep) -> dict[str, int]:
    """Counters of the caller's scans (read model): requested, completed, failed, rewarded,
    compensated, and `category:<code>` per category."""
    return await read_models.scan_stats(redis, user.account_id)


# Characters


@router.get("/characters", tags=["characters"], responses=_errors(*_USER))
async def catalogue(_: CurrentUser, session: SessionDep) -> list[CharacterPublic]:
    return [CharacterPublic.model_validate(c) for c in await characters.catalogue(session)]


@router.get("/characters/me", tags=["characters"], responses=_errors(*_USER))
async def owned(user: CurrentUser, session: SessionDep, redis: RedisDep) -> OwnedCharacters:
    """Owned characters (read model; from the event store when it has none for you)."""
    items = await characters.owned(session, redis, user.account_id)
    return OwnedCharacters(items=items, total=len(items))


@router.get("/characters/me/history", tags=["characters"], responses=_errors(*_INPUT))
async def owned_history(
    user: CurrentUser, session: SessionDep, at: Annotated[Instant, Query()]
) -> OwnedCharacters:
    """Owned characters as they were at `at` (replayed from the event store)."""
    items = await characters.owned_at(session, user.account_id, at)
    return OwnedCharacters(items=items, total=len(items), at=at)


@router.get("/characters/ranking", tags=["characters"], responses=_errors(*_INPUT))
async def ranking(
    user: CurrentUser,
    redis: RedisDep,
    period: Literal["weekly"] = "weekly",
    limit: Annotated[int, Query(ge=1, le=100), IntegerLiteral] = 10,
) -> Ranking:
    """This ISO week's collectors, most characters first."""
    del period  # only weekly exists
    return await characters.weekly_ranking(redis, user.account_id, limit)


# My


@router.get("/my/profile", tags=["my"], responses=_errors(*_USER))
async def get_profile(user: CurrentUser, session: SessionDep) -> ProfilePublic:
    return ProfilePublic.model_validate(await my.profile(session, user.account_id))


@router.patch("/my/profile", tags=["my"], responses=_errors(*_INPUT))
async def update_profile(
    body: ProfileUpdate, user: CurrentUser, session: SessionDep
) -> ProfilePublic:
    return ProfilePublic.model_validate(await my.rename(session, user.account_id, body.nickname))


@router.get("/notifications", tags=["my"], responses=_errors(*_INPUT))
async def notifications(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[NotificationPublic]:
    """What the saga told you, newest first."""
    return (await my.notifications(session, user.account_id, page)).map(
        NotificationPublic.model_validate
    )


@router.websocket("/ws/notifications")
async def notification_socket(websocket: WebSocket) -> None:
    """Notifications and chat answers as they happen (`?token=<access token>`)."""
    user = await authenticate_principal(websocket, principal_of)
    if user is None:
        return
    channel, lease = my.notification_channel(user.account_id), Lease.of_claims(user.claims)
    async with websocket.state.hub.connection(
        channel, websocket, str(user.account_id), lease
    ) as connection:
        async for _ in connection.messages():
            pass  # the channel only speaks to the client


# Locations


@router.get("/locations/nearby", tags=["locations"], responses=_errors(*_INPUT))
async def nearby(
    _: CurrentUser,
    session: SessionDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(gt=0, le=50)] = 3.0,
    limit: Annotated[int, Query(ge=1, le=100), IntegerLiteral] = 20,
) -> list[CentrePublic]:
    """Recycling centres within `radius_km`, nearest first."""
    rows = await locations.nearby(session, lat=lat, lng=lng, radius_km=radius_km, limit=limit)
    return [
        CentrePublic.model_validate(Extended(found, distance_km=round(distance, 3)))
        for found, distance in rows
    ]


# Chat


@router.post(
    "/chat/sessions",
    status_code=status.HTTP_201_CREATED,
    tags=["chat"],
    responses=_errors(*_INPUT),
)
async def open_chat(
    body: ChatSessionCreate, user: CurrentUser, session: SessionDep
) -> ChatSessionPublic:
    return ChatSessionPublic.model_validate(
        await chat.open_session(session, user.account_id, body.title)
    )


@router.get("/chat/sessions", tags=["chat"], responses=_errors(*_INPUT))
async def chat_sessions(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatSessionPublic]:
    """Your chat sessions, newest first."""
    return (await chat.sessions_of(session, user.account_id, page)).map(
        ChatSessionPublic.model_validate
    )


@router.post(
    "/chat/sessions/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["chat"],
    responses=_errors(*_OWNED),
)
async def ask(
    session_id: uuid.UUID, body: ChatMessageCreate, user: CurrentUser, session: SessionDep
) -> ChatMessageAccepted:
    """Ask a disposal question; the answer arrives in the session (and over the socket)."""
    question = await chat.ask(session, user.account_id, session_id, body.content)
    return ChatMessageAccepted(message=ChatMessagePublic.model_validate(question))


@router.get("/chat/sessions/{session_id}/messages", tags=["chat"], responses=_errors(*_OWNED))
async def chat_messages(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatMessagePublic]:
    """The session's questions and answers, oldest first."""
    rows = await chat.messages(session, user.account_id, session_id, page)
    return rows.map(ChatMessagePublic.model_validate)


# Admin

admin_router = APIRouter(prefix=PREFIX, responses=_errors(401, 403, 422))
admin_router.include_router(dlq_router(admin_resolver))

routers = (router, admin_router)
