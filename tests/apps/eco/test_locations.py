"""Recycling centres nearby (great-circle distance, radius, limit, nearest first), the shipped
Seoul sample, and `ensemble eco import-locations` from CSV and GeoJSON."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from ensemble.apps.eco.locations import service as locations
from ensemble.apps.eco.locations.service import CentreRecord
from ensemble.apps.eco.models import Centre
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.apicheck import assert_error
from tests.apps.eco.conftest import API, EcoUser, EcoWorld, quick_users
from tests.commands import run_cli

EARTH_RADIUS_KM = 6371.0088
CITY_HALL = (37.5663, 126.9779)
SEOUL_DISTRICTS = {
    *("종로구", "중구", "용산구", "성동구", "광진구", "동대문구", "중랑구", "성북구", "강북구"),
    *("도봉구", "노원구", "은평구", "서대문구", "마포구", "양천구", "강서구", "구로구"),
    *("금천구", "영등포구", "동작구", "관악구", "서초구", "강남구", "송파구", "강동구"),
}
FAR_AWAY = (60.17, 24.94)  # Helsinki: no shipped centre, and a latitude where degrees shrink


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lng1), (lat2, lng2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def destination(start: tuple[float, float], bearing: float, km: float) -> tuple[float, float]:
    """The point `km` along the great circle leaving `start` at `bearing` degrees."""
    lat, lng, theta, delta = (
        math.radians(start[0]),
        math.radians(start[1]),
        math.radians(bearing),
        km / EARTH_RADIUS_KM,
    )
    lat2 = math.asin(
        math.sin(lat) * math.cos(delta) + math.cos(lat) * math.sin(delta) * math.cos(theta)
    )
    lng2 = lng + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(lat),
        math.cos(delta) - math.sin(lat) * math.sin(lat2),
    )
    return math.degrees(lat2), math.degrees(lng2)


@pytest.fixture
async def prefix(database: Database) -> AsyncIterator[str]:
    """External ids of this test's own centres; they are deleted at the end (the shipped ones
    are kept between tests)."""
    mine = f"test-{uuid.uuid4().hex[:10]}-"
    yield mine
    async with database.unit_of_work() as session:
        await session.execute(delete(Centre).where(Centre.external_id.startswith(mine)))


async def centres_of(database: Database, prefix: str) -> dict[str, Centre]:
    async with database.sessionmaker() as session:
        found = await session.scalars(select(Centre).where(Centre.external_id.startswith(prefix)))
        return {centre.external_id.removeprefix(prefix): centre for centre in found}


async def nearby(world: EcoWorld, user: EcoUser, **params: Any) -> list[dict[str, Any]]:
    response = await world.client.get(
        f"{API}/locations/nearby", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def check_answer(origin: tuple[float, float], items: list[dict[str, Any]], radius: float) -> None:
    """Nearest first, within the radius, each distance the haversine one to the metre."""
    distances = [item["distance_km"] for item in items]
    assert distances == sorted(distances)
    for item in items:
        exact = haversine_km(origin, (item["lat"], item["lng"]))
        assert abs(item["distance_km"] - exact) < 0.001, (item, exact)
        assert exact <= radius


# Nearby


async def test_the_shipped_sample_covers_seoul(eco: EcoWorld, database: Database) -> None:
    shipped = resources.files("ensemble.apps.eco").joinpath("data/centres.csv").read_text("utf-8")
    assert len(shipped.strip().splitlines()) == 301  # a header and 300 centres
    sample = Centre.external_id.startswith("seoul-sample-")
    async with database.sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(sample))
        districts = set(await session.scalars(select(Centre.district).where(sample).distinct()))
    assert count == 300
    assert districts == SEOUL_DISTRICTS
    assert len(SEOUL_DISTRICTS) == 25

    [user] = await quick_users(eco, 1)
    items = await nearby(eco, user, lat=CITY_HALL[0], lng=CITY_HALL[1], radius_km=3, limit=100)
    assert items
    check_answer(CITY_HALL, items, 3)
    async with database.sessionmaker() as session:
        every = (await session.scalars(select(Centre))).all()
    within = sorted(
        (haversine_km(CITY_HALL, (c.lat, c.lng)), str(c.id))
        for c in every
        if haversine_km(CITY_HALL, (c.lat, c.lng)) <= 3
    )
    assert [item["centre_id"] for item in items] == [centre_id for _, centre_id in within]
    first_five = await nearby(eco, user, lat=CITY_HALL[0], lng=CITY_HALL[1], radius_km=3, limit=5)
    assert first_five == items[:5]


async def test_nearby_finds_exactly_the_centres_within_the_radius(
    eco: EcoWorld, database: Database, prefix: str
) -> None:
    # (name, bearing, km): around a point with no other centre; some just inside 2 km,
    # where a too-small bounding box would cut them off, some just outside
    placed = [
        ("a", 10, 0.3),
        ("b", 200, 0.8),
        ("c", 135, 1.2),
        ("north-edge", 0, 1.999),
        ("east-edge", 90, 1.999),
        ("south-edge", 180, 1.999),
        ("west-edge", 270, 1.999),
        ("north-out", 0, 2.01),
        ("east-out", 90, 2.01),
        ("far", 45, 4.5),
    ]
    records = []
    for name, bearing, km in placed:
        lat, lng = destination(FAR_AWAY, bearing, km)
        records.append(
            CentreRecord(external_id=prefix + name, name=name, lat=lat, lng=lng, categories=["can"])
        )
    async with database.unit_of_work() as session:
        await locations.upsert(session, records)
    [user] = await quick_users(eco, 1)
    origin = {"lat": FAR_AWAY[0], "lng": FAR_AWAY[1]}

    within_two = await nearby(eco, user, **origin, radius_km=2, limit=100)
    check_answer(FAR_AWAY, within_two, 2)
    by_distance = sorted((km, name) for name, _, km in placed if km <= 2)
    assert [item["name"] for item in within_two][:3] == ["a", "b", "c"]
    assert sorted(item["name"] for item in within_two) == sorted(n for _, n in by_distance)

    assert [i["name"] for i in await nearby(eco, user, **origin, radius_km=1, limit=100)] == [
        "a",
        "b",
    ]
    limited = await nearby(eco, user, **origin, radius_km=2, limit=3)
    assert [item["name"] for item in limited] == ["a", "b", "c"]
    everything = await nearby(eco, user, **origin, radius_km=5, limit=100)
    assert len(everything) == len(placed)
    check_answer(FAR_AWAY, everything, 5)
    assert everything[0]["categories"] == ["can"]


async def test_bad_coordinates_are_422(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    good = {"lat": CITY_HALL[0], "lng": CITY_HALL[1]}
    for bad in (
        {"lat": 91},
        {"lat": -90.5},
        {"lng": 181},
        {"lat": "north"},
        {"radius_km": 0},
        {"radius_km": -1},
        {"radius_km": 51},
        {"limit": 0},
        {"limit": 101},
    ):
        response = await eco.client.get(
            f"{API}/locations/nearby", params={**good, **bad}, headers=user.headers
        )
        assert response.status_code == 422, (bad, response.text)
        assert_error(response, 422)
    missing = await eco.client.get(
        f"{API}/locations/nearby", params={"lat": 37.5}, headers=user.headers
    )
    assert_error(missing, 422)


# Import


CSV_HEADER = "external_id,name,district,address,lat,lng,categories,phone,opening_hours"


def csv_file(path: Path, prefix: str, rows: list[str], encoding: str = "utf-8") -> Path:
    lines = [CSV_HEADER, *(row.format(p=prefix) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


async def test_import_csv_upserts_valid_rows_and_lists_the_rejected(
    settings: Settings, database: Database, tmp_path: Path, prefix: str
) -> None:
    rows = [
        "{p}one,첫째 센터,마포구,서울 마포구 1,37.55,126.91,plastic;can,02-000-0001,24시간",
        "{p}two,둘째 센터,,,37.56,126.92,paper,,",
        "{p}bad-lat,잘못된 위도,,,95.0,126.9,can,,",  # record 4
        ",이름만 있음,,,37.5,126.9,,,",  # record 5: no external id
        "{p}three,셋째 센터,송파구,,37.51,127.10,glass,,",
        "{p}no-lng,경도 없음,,,37.5,east,,,",  # record 7
    ]
    result = await run_cli(
        settings, "eco", "import-locations", str(csv_file(tmp_path / "c.csv", prefix, rows))
    )
    assert result.exit_code == 1, result.output
    assert "imported 3 centres; rejected 3" in result.output
    for record in (4, 5, 7):
        assert f"'record': {record}" in result.output
    stored = await centres_of(database, prefix)
    assert sorted(stored) == ["one", "three", "two"]
    one, two = stored["one"], stored["two"]
    assert (one.name, one.district, one.lat, one.lng) == ("첫째 센터", "마포구", 37.55, 126.91)
    assert (one.categories, one.phone) == (["plastic", "can"], "02-000-0001")
    assert (two.district, two.address, two.phone, two.categories) == (None, None, None, ["paper"])

    renamed = [rows[0].replace("첫째 센터", "첫째 센터 (이전)"), rows[1]]
    spreadsheet = csv_file(tmp_path / "d.csv", prefix, renamed, encoding="utf-8-sig")  # a BOM
    again = await run_cli(settings, "eco", "import-locations", str(spreadsheet))
    assert again.exit_code == 0, again.output
    assert "imported 2 centres; rejected 0" in again.output
    updated = await centres_of(database, prefix)
    assert sorted(updated) == ["one", "three", "two"]
    assert updated["one"].name == "첫째 센터 (이전)"
    assert updated["one"].id == one.id


def point(lng: float, lat: float, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": properties,
    }


async def test_import_geojson_points(
    settings: Settings, database: Database, eco: EcoWorld, tmp_path: Path, prefix: str
) -> None:
    by_id = {**point(24.95, 60.18, name="Kallio", categories=["can", "glass"]), "id": prefix + "k"}
    features: list[Any] = [
        by_id,
        point(24.93, 60.16, external_id=prefix + "p", name="Punavuori", district="Ullanlinna"),
        None,  # record 3
        {"type": "Feature", "properties": {"external_id": prefix + "x", "name": "X"}},  # 4
        point(200.0, 60.0, external_id=prefix + "y", name="Off the map"),  # 5
        {**point(24.9, 60.1, external_id=prefix + "z", name="Z"), "geometry": {"coordinates": [1]}},
    ]
    path = tmp_path / "centres.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = await run_cli(settings, "eco", "import-locations", str(path))
    assert result.exit_code == 1, result.output
    assert "imported 2 centres; rejected 4" in result.output
    for record in (3, 4, 5, 6):
        assert f"'record': {record}" in result.output
    stored = await centres_of(database, prefix)
    assert sorted(stored) == ["k", "p"]
    assert (stored["k"].lat, stored["k"].lng, stored["k"].categories) == (
        60.18,
        24.95,
        ["can", "glass"],
    )
    assert stored["p"].district == "Ullanlinna"

    [user] = await quick_users(eco, 1)
    found = await nearby(eco, user, lat=60.18, lng=24.95, radius_km=1, limit=1)
    assert [item["name"] for item in found] == ["Kallio"]
    assert found[0]["distance_km"] == 0
