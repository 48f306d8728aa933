"""ECO² image routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from ensemble.apps.eco.auth import CurrentUser
from ensemble.apps.eco.images import service
from ensemble.apps.eco.images.storage import LocalStorage
from ensemble.apps.eco.models import Upload
from ensemble.apps.eco.schemas import (
    INPUT,
    PREFIX,
    ImagePublic,
    PresignRequest,
    PresignResponse,
    RegisterRequest,
    errors,
)
from ensemble.apps.eco.settings import EcoDep
from ensemble.kernel.db import SessionDep
from ensemble.kernel.edge import allow_body
from ensemble.kernel.errors import AppError
from ensemble.kernel.schemas import IntegerLiteral

router = APIRouter(prefix=PREFIX, tags=["images"])


@router.post(
    "/images/presigned-url",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*INPUT),
)
async def presigned_url(
    body: PresignRequest, request: Request, user: CurrentUser, session: SessionDep, eco: EcoDep
) -> PresignResponse:
    """A signed URL to PUT the photo's bytes to, valid for 15 minutes."""
    upload = await service.presign(
        session,
        user_id=user.account_id,
        content_type=body.content_type,
        size=body.size,
        filename=body.filename,
        settings=eco.settings,
    )
    target = eco.storage.upload_target(
        upload, local_url=str(request.url_for("upload_bytes", upload_id=upload.id))
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
    responses=errors(
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
    upload = await service.authorize_upload(
        session,
        storage,
        upload_id=upload_id,
        expires=expires,
        signature=signature,
        content_type=request.headers.get("content-type"),
    )
    allow_body(request, eco.settings.upload_max_bytes)
    await service.receive(session, storage, upload, await _body_up_to(request, upload))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _body_up_to(request: Request, upload: Upload) -> bytes:
    """The request's body, refused as soon as it grows past the upload's size."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > upload.size:
            raise service.size_mismatch(upload, len(body))
    return bytes(body)


@router.post(
    "/images/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        *INPUT,
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
        image = await service.register_upload(
            session, eco.storage, user_id=user.account_id, upload_id=body.upload_id
        )
    else:
        image = await service.register_url(session, user_id=user.account_id, url=str(body.cdn_url))
    return ImagePublic.model_validate(image)
