"""Where uploaded photos go: a port with two adapters.

- `LocalStorage` (default): files under `ECO_STORAGE_DIR` (or `DATA_DIR/eco/images`); the
  upload URL is this app's own `PUT /images/uploads/{id}` carrying an HMAC signature over
  the upload id, content type, size and expiry, so the URL alone authorises that one PUT.
- `S3Storage` (when `ECO_S3_ENDPOINT_URL` and `ECO_S3_BUCKET` are set): a presigned S3 PUT
  URL from any S3-compatible service, checked with HEAD when the image is registered
  (needs `boto3`: `pip install 'ensemble[s3]'`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ensemble.settings import Settings

if TYPE_CHECKING:
    from ensemble.apps.eco.models import Upload
    from ensemble.apps.eco.settings import EcoSettings


@dataclass(frozen=True)
class UploadTarget:
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None


class Storage(Protocol):
    def upload_target(self, upload: Upload, *, local_url: str) -> UploadTarget:
        """Where the client PUTs `upload`'s bytes (`local_url` is this app's own upload route)."""

    async def stat(self, key: str) -> StoredObject | None:
        """The stored object, or None if nothing was uploaded under `key`."""

    def url(self, key: str) -> str:
        """The address recorded for the image."""


def upload_signature(
    secret: str, upload_id: uuid.UUID, content_type: str, size: int, expires: int
) -> str:
    message = f"{upload_id}|{content_type}|{size}|{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def upload_key(signing_key: str) -> str:
    """The key upload URLs are signed with: derived from the signing key, so a leaked upload
    signature says nothing about the key that signs tokens."""
    return hmac.new(signing_key.encode(), b"eco.uploads", hashlib.sha256).hexdigest()


def signature_matches(
    secret: str, upload_id: uuid.UUID, content_type: str, size: int, expires: int, signature: str
) -> bool:
    expected = upload_signature(secret, upload_id, content_type, size, expires)
    return hmac.compare_digest(expected, signature)


class LocalStorage:
    def __init__(self, root: Path, secret: str) -> None:
        self.root = root
        self.secret = secret

    def upload_target(self, upload: Upload, *, local_url: str) -> UploadTarget:
        expires = int(upload.expires_at.timestamp())
        signature = upload_signature(
            self.secret, upload.id, upload.content_type, upload.size, expires
        )
        return UploadTarget(
            url=f"{local_url}?expires={expires}&signature={signature}",
            headers={"Content-Type": upload.content_type},
        )

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"{key!r} leaves the storage directory")
        return path

    async def write(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically (a reader never sees half a file)."""
        await asyncio.to_thread(self._write, self.path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)

    async def stat(self, key: str) -> StoredObject | None:
        path = self.path(key)
        if not path.is_file():
            return None
        return StoredObject(size=path.stat().st_size, content_type=None)

    def url(self, key: str) -> str:
        return f"local://{key}"


class S3Storage:
    def __init__(self, settings: EcoSettings) -> None:
        import boto3  # optional dependency

        assert settings.s3_bucket is not None
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint_url
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=_secret(settings.s3_access_key),
            aws_secret_access_key=_secret(settings.s3_secret_key),
        )

    def upload_target(self, upload: Upload, *, local_url: str) -> UploadTarget:
        del local_url
        expires_at = upload.expires_at
        seconds = max(1, int(expires_at.timestamp() - datetime.now(expires_at.tzinfo).timestamp()))
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": upload.storage_key,
                "ContentType": upload.content_type,
                "ContentLength": upload.size,
            },
            ExpiresIn=seconds,
        )
        return UploadTarget(url=str(url), headers={"Content-Type": upload.content_type})

    async def stat(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return None
        return StoredObject(size=int(head["ContentLength"]), content_type=head.get("ContentType"))

    def url(self, key: str) -> str:
        return f"{(self.endpoint or 'https://s3.amazonaws.com').rstrip('/')}/{self.bucket}/{key}"


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def storage_for(eco: EcoSettings, settings: Settings) -> Storage:
    """The configured storage (S3 when an endpoint and a bucket are set, else local files)."""
    if eco.s3_endpoint_url and eco.s3_bucket:
        return S3Storage(eco)
    root = eco.storage_dir or settings.data_dir / "eco" / "images"
    return LocalStorage(root, upload_key(settings.signing_key()))
