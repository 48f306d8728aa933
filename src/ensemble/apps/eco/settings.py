"""ECO²'s settings (`ECO_*` in the environment or `.env`) and what a process opens for it
once: the photo storage, the classifier and a publisher on the process's Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ensemble.apps.eco.images.storage import Storage, storage_for
from ensemble.apps.eco.scan.classifier import Classifier, classifier_for
from ensemble.kernel.realtime import Publisher
from ensemble.kernel.resources import AppResources, Process


class EcoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECO_", env_file=".env", extra="ignore")

    max_characters: int = Field(
        default=12, ge=1, description="characters an ECO² user may own; a reward past it fails"
    )
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    upload_ttl_seconds: int = Field(
        default=900, ge=1, description="how long a presigned upload URL (and its upload) waits"
    )
    storage_dir: Path | None = Field(
        default=None, description="where uploaded images are kept; unset: DATA_DIR/eco/images"
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="an S3-compatible endpoint; set with the bucket to store there"
    )
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    classifier: Literal["lexicon", "vision"] = Field(
        default="lexicon",
        description="lexicon: offline and deterministic; vision: an OpenAI-compatible endpoint",
    )
    vision_url: str | None = Field(
        default=None, description="base URL of an OpenAI-compatible API (…/v1)"
    )
    vision_api_key: SecretStr | None = None
    vision_model: str = "gpt-4o-mini"
    vision_timeout_seconds: float = 35.0
    scan_timeout_seconds: int = Field(
        default=600, ge=10, description="a scan still processing after this long is failed"
    )
    image_wait_seconds: float = Field(
        default=60,
        gt=0,
        description="how long a scan waits for its image to be registered before it fails"
        " (`image_not_found`)",
    )


@dataclass(frozen=True)
class EcoResources:
    settings: EcoSettings
    storage: Storage
    classifier: Classifier
    publisher: Publisher | None
    """On the process's Redis (None in a process without one: pushes are dropped)."""


@asynccontextmanager
async def _open(process: Process, settings: EcoSettings) -> AsyncIterator[EcoResources]:
    storage = storage_for(settings, process.settings)
    yield EcoResources(settings, storage, classifier_for(settings), process.publisher())


ECO = AppResources("eco", EcoSettings, _open)
EcoDep = Annotated[EcoResources, Depends(ECO.dependency)]
