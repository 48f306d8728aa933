"""Images: a presigned upload (pending for 15 minutes), its bytes, and registration, which
appends `ImageRegistered` to the event store (and the bus) with the image row."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events, repository
from ensemble.apps.eco.images.storage import LocalStorage, Storage, signature_matches
from ensemble.apps.eco.models import Image, Upload, UploadStatus
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound

_UNSAFE = re.compile(r"[^0-9A-Za-z가-힣._-]+")


class UploadExpired(AppError):
    status_code = 410
    code = "upload_expired"
    message = "The upload URL has expired; ask for a new one."


def storage_key(upload_id: uuid.UUID, filename: str | None) -> str:
    safe = _UNSAFE.sub("_", filename or "photo").strip("._") or "photo"
    return f"uploads/{upload_id}/{safe[:120]}"


async def presign(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    content_type: str,
    size: int,
    filename: str | None,
    settings: EcoSettings,
) -> Upload:
    """A pending upload the caller may fill within `ECO_UPLOAD_TTL_SECONDS`."""
    if size > settings.upload_max_bytes:
        raise InvalidInput(
            f"An image may have at most {settings.upload_max_bytes} bytes.",
            code="image_too_large",
            details={"max_bytes": settings.upload_max_bytes},
        )
    upload_id = new_id()
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        content_type=content_type,
        size=size,
        storage_key=storage_key(upload_id, filename),
        expires_at=utcnow() + timedelta(seconds=settings.upload_ttl_seconds),
    )
    session.add(upload)
    await session.flush()
    return upload


async def authorize_upload(
    session: AsyncSession,
    storage: LocalStorage,
    *,
    upload_id: uuid.UUID,
    expires: int,
    signature: str,
    content_type: str | None,
) -> Upload:
    """The pending upload a PUT to a local upload URL may fill: signature, expiry and type
    are checked before any byte of the body is read."""
    upload = await repository.uploads.get(session, upload_id)
    if upload is None or not signature_matches(
        storage.secret, upload_id, upload.content_type, upload.size, expires, signature
    ):
        raise Forbidden("The upload URL is not valid.", code="invalid_signature")
    if expires != int(upload.expires_at.timestamp()) or upload.expires_at <= utcnow():
        raise UploadExpired()
    _check_pending(upload)
    if (content_type or "").split(";")[0].strip().lower() != upload.content_type:
        raise InvalidInput(
            "The Content-Type differs from the one requested.",
            code="content_type_mismatch",
            details={"expected": upload.content_type},
        )
    return upload


def size_mismatch(upload: Upload, received: int) -> InvalidInput:
    """The error for a body of `received` bytes (or more) where the upload asked for another."""
    return InvalidInput(
        "The body's size differs from the one requested.",
        code="size_mismatch",
        details={"expected": upload.size, "received": received},
    )


async def receive(
    session: AsyncSession, storage: LocalStorage, upload: Upload, body: bytes
) -> Upload:
    """Store the bytes of an authorized upload (once: a second PUT is refused)."""
    if len(body) != upload.size:
        raise size_mismatch(upload, len(body))
    await session.refresh(upload, with_for_update=True)
    _check_pending(upload)
    await storage.write(upload.storage_key, body)
    upload.status, upload.uploaded_at = UploadStatus.UPLOADED, utcnow()
    return upload


def _check_pending(upload: Upload) -> None:
    if upload.status is not UploadStatus.PENDING:
        raise Conflict("This upload already has its bytes.", code="upload_already_received")


async def register_upload(
    session: AsyncSession, storage: Storage, *, user_id: uuid.UUID, upload_id: uuid.UUID
) -> Image:
    """Register an uploaded (or, with S3, a stored) upload of the caller's as an image."""
    upload = await repository.uploads.get(session, upload_id, lock=True)
    if upload is None or upload.user_id != user_id:
        raise NotFound("No such upload.", code="upload_not_found")
    existing = await repository.images.of_upload(session, upload_id)
    if existing is not None:  # registering twice answers the same image
        return existing
    if upload.status is UploadStatus.PENDING:
        stored = await storage.stat(upload.storage_key)
        if stored is None or stored.size != upload.size:
            if upload.expires_at <= utcnow():
                raise UploadExpired()
            raise Conflict("The image has not been uploaded yet.", code="upload_incomplete")
    upload.status = UploadStatus.REGISTERED
    return await _register(
        session,
        Image(
            id=new_id(),
            user_id=user_id,
            upload_id=upload.id,
            url=storage.url(upload.storage_key),
            content_type=upload.content_type,
            size=upload.size,
        ),
    )


async def register_url(session: AsyncSession, *, user_id: uuid.UUID, url: str) -> Image:
    """Register an image already served from a CDN."""
    return await _register(session, Image(id=new_id(), user_id=user_id, url=url))


async def _register(session: AsyncSession, image: Image) -> Image:
    session.add(image)
    await session.flush()
    payload = events.ImageRegistered(
        image_id=image.id, user_id=image.user_id, url=image.url, content_type=image.content_type
    )
    await events.publish(session, events.IMAGE, image.id, expected_sequence=0, event=payload)
    return image
