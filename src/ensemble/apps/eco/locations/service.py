"""Recycling centres: nearest first within a radius, and importing them from CSV or GeoJSON.

Distances are great-circle (haversine) in SQL, after a bounding-box filter the
`(lat, lng)` index serves, so only nearby rows are measured.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import and_, func, literal
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import repository
from ensemble.apps.eco.models import Centre
from ensemble.kernel.db import new_id, utcnow

EARTH_RADIUS_KM = 6371.0088
IMPORT_BATCH = 500
BOX_MARGIN = 1.000001  # rounding never cuts off a centre on the radius


def _distance_km(lat: float, lng: float) -> Any:
    """Haversine distance from (lat, lng) to a centre, as an SQL expression."""
    dlat = func.radians(Centre.lat - lat) / 2
    dlng = func.radians(Centre.lng - lng) / 2
    a = func.power(func.sin(dlat), 2) + func.cos(func.radians(literal(lat))) * func.cos(
        func.radians(Centre.lat)
    ) * func.power(func.sin(dlng), 2)
    return 2 * EARTH_RADIUS_KM * func.asin(func.least(1.0, func.sqrt(a)))


async def nearby(
    session: AsyncSession, *, lat: float, lng: float, radius_km: float, limit: int
) -> Sequence[tuple[Centre, float]]:
    """Centres within `radius_km` of (lat, lng), nearest first, with their distance."""
    dlat, dlng = _box(lat, radius_km)
    distance = _distance_km(lat, lng)
    box = and_(
        Centre.lat.between(lat - dlat, lat + dlat),
        Centre.lng.between(lng - dlng, lng + dlng),
        distance <= radius_km,
    )
    return await repository.centres_near(session, box, distance, limit)


def _box(lat: float, radius_km: float) -> tuple[float, float]:
    """Half the height and width, in degrees, of a box holding the whole circle on the
    sphere the distance uses (a smaller box would cut off centres near the radius); a
    circle around a pole reaches every longitude."""
    angle = radius_km / EARTH_RADIUS_KM
    reach = math.sin(angle) / max(math.cos(math.radians(lat)), 1e-12)
    dlng = math.degrees(math.asin(reach)) if reach < 1 else 180.0
    return math.degrees(angle) * BOX_MARGIN, dlng * BOX_MARGIN


# Import


class CentreRecord(BaseModel):
    external_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    district: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    categories: list[str] = Field(default_factory=list)
    phone: str | None = Field(default=None, max_length=50)
    opening_hours: str | None = Field(default=None, max_length=200)

    @field_validator("categories", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
        return value

    @field_validator("district", "address", "phone", "opening_hours", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def read_records(text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Raw records of a CSV (header row) or GeoJSON (Point features) document, numbered."""
    if fmt == "csv":
        yield from enumerate(csv.DictReader(io.StringIO(text)), start=2)
        return
    document = json.loads(text)
    for number, feature in enumerate(document.get("features", []), start=1):
        yield number, _feature_fields(feature)


def _feature_fields(feature: Any) -> dict[str, Any]:
    """A Point feature's fields; a malformed feature gives fields that fail validation
    (it is rejected and listed, the import goes on)."""
    if not isinstance(feature, dict):
        return {}
    properties = feature.get("properties")
    fields = dict(properties) if isinstance(properties, dict) else {}
    geometry = feature.get("geometry")
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        coordinates = [None, None]
    fields.setdefault("external_id", feature.get("id"))
    return {**fields, "lng": coordinates[0], "lat": coordinates[1]}


def validate(
    records: Iterable[tuple[int, dict[str, Any]]], report: ImportReport
) -> Iterator[CentreRecord]:
    for number, raw in records:
        try:
            yield CentreRecord.model_validate(raw)
        except ValidationError as exc:
            errors = [
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
            ]
            report.rejected.append({"record": number, "errors": errors})


async def upsert(session: AsyncSession, records: Sequence[CentreRecord]) -> None:
    """Insert or update (by `external_id`) one batch of centres."""
    if not records:
        return
    values = [{"id": new_id(), "updated_at": utcnow(), **record.model_dump()} for record in records]
    await repository.upsert_centres(session, values)


def batches(
    records: Iterable[CentreRecord], size: int = IMPORT_BATCH
) -> Iterator[list[CentreRecord]]:
    """Batches with each `external_id` once (the last record of an id wins)."""
    batch: dict[str, CentreRecord] = {}
    for record in records:
        batch[record.external_id] = record
        if len(batch) >= size:
            yield list(batch.values())
            batch = {}
    if batch:
        yield list(batch.values())
