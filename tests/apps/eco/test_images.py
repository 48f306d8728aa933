"""Photos: a presigned upload (a signed, expiring PUT target), its bytes checked against the
request, and registration, which appends `ImageRegistered` with the image in one
transaction; then the saga classifies a registered photo by its file name."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from ensemble.apps.eco.images.storage import LocalStorage, storage_for, upload_signature
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.db import Database
from tests.apicheck import assert_error
from tests.apps.eco.conftest import (
    API,
    PHOTO,
    EcoUser,
    EcoWorld,
    Presigned,
    eco_rows,
    error_of,
    presign,
    put_bytes,
    quick_users,
    register,
    uploaded_image,
)
from tests.polling import eventually

TTL = timedelta(minutes=15)


def storage(world: EcoWorld) -> LocalStorage:
    found = storage_for(EcoSettings(), world.settings)
    assert isinstance(found, LocalStorage)
    return found


async def upload_row(database: Database, upload_id: str) -> dict[str, Any]:
    async with database.engine.connect() as conn:
        row: dict[str, Any] = await conn.scalar(
            text("SELECT to_jsonb(u) FROM eco_image.uploads u WHERE id = :id"), {"id": upload_id}
        )
        return row


async def stored_bytes(world: EcoWorld, upload_id: str) -> bytes | None:
    """The bytes kept for an upload, or None if nothing was stored."""
    path = storage(world).path((await upload_row(world.database, upload_id))["storage_key"])
    return path.read_bytes() if path.exists() else None


async def assert_nothing_received(world: EcoWorld, upload: Presigned) -> None:
    assert await stored_bytes(world, upload.upload_id) is None
    assert (await upload_row(world.database, upload.upload_id))["status"] == "pending"


# Presigning


async def test_presign_answers_a_signed_put_target_valid_for_15_minutes(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    asked = datetime.now(UTC)
    response = await eco.client.post(
        f"{API}/images/presigned-url",
        json={"content_type": "image/png", "size": 1234, "filename": "my pet bottle.png"},
        headers=user.headers,
    )
    answered = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert asked + TTL - timedelta(seconds=1) <= expires_at <= answered + TTL
    assert body["method"] == "PUT"
    assert body["headers"] == {"Content-Type": "image/png"}

    url = urlsplit(body["upload_url"])
    query = parse_qs(url.query)
    assert url.path == f"{API}/images/uploads/{body['upload_id']}"
    assert query["expires"] == [str(int(expires_at.timestamp()))]
    assert len(query["signature"][0]) == 64

    row = await upload_row(eco.database, body["upload_id"])
    assert (row["status"], row["size"], row["user_id"]) == ("pending", 1234, str(user.user_id))
    assert row["storage_key"] == f"uploads/{body['upload_id']}/my_pet_bottle.png"


PRESIGN_REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "too large": ({"content_type": "image/jpeg", "size": 10 * 2**20 + 1}, "image_too_large"),
    "not an image": ({"content_type": "text/plain", "size": 10}, "validation_error"),
    "empty": ({"content_type": "image/jpeg", "size": 0}, "validation_error"),
    "a path as name": (
        {"content_type": "image/jpeg", "size": 10, "filename": "../etc/passwd"},
        "validation_error",
    ),
}


async def test_presign_refuses_what_cannot_be_an_accepted_photo(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    before = await eco_rows(eco.database)
    answers = {
        label: await eco.client.post(f"{API}/images/presigned-url", json=body, headers=user.headers)
        for label, (body, _) in PRESIGN_REFUSALS.items()
    }
    assert {label: error_of(answer) for label, answer in answers.items()} == {
        label: (422, code) for label, (_, code) in PRESIGN_REFUSALS.items()
    }
    limit = {"max_bytes": EcoSettings().upload_max_bytes}
    assert answers["too large"].json()["error"]["details"] == limit
    assert await eco_rows(eco.database) == before


# Uploading the bytes


async def test_the_bytes_are_stored_once(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    done = await put_bytes(eco, upload)
    assert done.status_code == 204, done.text
    assert await stored_bytes(eco, upload.upload_id) == PHOTO
    assert (await upload_row(eco.database, upload.upload_id))["status"] == "uploaded"

    assert_error(await put_bytes(eco, upload, b"x" * len(PHOTO)), 409, "upload_already_received")
    assert await stored_bytes(eco, upload.upload_id) == PHOTO


def with_query(upload: Presigned, **changes: str) -> str:
    path, query = upload.path.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()} | changes
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items())


async def test_a_tampered_url_is_403_and_stores_nothing(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload, other = await presign(eco, user), await presign(eco, user)
    signature = parse_qs(urlsplit(upload.path).query)["signature"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    later = str(int(upload.expires_at.timestamp()) + 3600)
    other_signature = parse_qs(urlsplit(other.path).query)["signature"][0]
    for path in (
        with_query(upload, signature=flipped),
        with_query(upload, expires=later),  # the expiry is signed too
        with_query(upload, signature=other_signature),  # another upload's signature
    ):
        assert_error(await put_bytes(eco, upload, path=path), 403, "invalid_signature")
    await assert_nothing_received(eco, upload)
    assert (await put_bytes(eco, upload)).status_code == 204


async def test_an_expired_url_is_410(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    async with eco.database.unit_of_work() as session:  # fifteen minutes later
        expired: datetime = await session.scalar(
            text(
                "UPDATE eco_image.uploads SET expires_at = date_trunc('second', now())"
                " - interval '1 minute' WHERE id = :id RETURNING expires_at"
            ),
            {"id": upload.upload_id},
        )
    expires = int(expired.timestamp())
    signed = upload_signature(
        storage(eco).secret, uuid.UUID(upload.upload_id), "image/jpeg", len(PHOTO), expires
    )
    for path in (upload.path, with_query(upload, expires=str(expires), signature=signed)):
        assert_error(await put_bytes(eco, upload, path=path), 410, "upload_expired")
    await assert_nothing_received(eco, upload)
    assert_error(await register(eco, user, upload_id=upload.upload_id), 410, "upload_expired")


MISMATCHES: dict[str, tuple[bytes, str | None, str]] = {
    "another type": (PHOTO, "image/png", "content_type_mismatch"),
    "longer": (PHOTO + b"!", None, "size_mismatch"),
    "shorter": (PHOTO[:-1], None, "size_mismatch"),
}


async def test_bytes_unlike_the_request_are_422_and_not_stored(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    got, wanted = {}, {}
    for label, (data, content_type, code) in MISMATCHES.items():
        upload = await presign(eco, user)
        refused = await put_bytes(eco, upload, data, content_type=content_type)
        kept = await stored_bytes(eco, upload.upload_id)
        status = (await upload_row(eco.database, upload.upload_id))["status"]
        retried = await put_bytes(eco, upload)  # the URL still works
        got[label] = (error_of(refused), kept, status, retried.status_code)
        wanted[label] = ((422, code), None, "pending", 204)
    assert got == wanted


# Registering


async def events_of_image(database: Database, image_id: str) -> list[dict[str, Any]]:
    """`ImageRegistered` as stored and as put in the outbox, with the transaction that wrote
    the image row (`xmin`) and each event."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT s.type, s.payload, s.xmin::text AS stored_in, o.xmin::text AS outbox_in,"
                " o.type AS outbox_type, i.xmin::text AS image_in"
                " FROM events.stored_events s"
                " JOIN events.outbox o ON o.event_id = s.event_id"
                " JOIN eco_image.images i ON i.id::text = s.aggregate_id"
                " WHERE s.aggregate_type = 'eco.image' AND s.aggregate_id = :id"
            ),
            {"id": image_id},
        )
        return [dict(row._mapping) for row in rows]


async def test_registering_an_upload_appends_image_registered_with_the_image(
    eco: EcoWorld,
) -> None:
    [user] = await quick_users(eco, 1)
    upload, image = await uploaded_image(eco, user)
    assert image["url"] == f"local://uploads/{upload.upload_id}/pet_bottle.jpg"
    assert (image["content_type"], image["size"]) == ("image/jpeg", len(PHOTO))

    [event] = await events_of_image(eco.database, image["image_id"])
    assert (event["type"], event["outbox_type"]) == ("ImageRegistered", "ImageRegistered")
    assert event["payload"] == {
        "image_id": image["image_id"],
        "user_id": str(user.user_id),
        "url": image["url"],
        "content_type": "image/jpeg",
    }
    assert event["stored_in"] == event["outbox_in"] == event["image_in"]  # one transaction

    again = await register(eco, user, upload_id=upload.upload_id)
    assert again.status_code == 201, again.text
    assert again.json() == image
    assert len(await events_of_image(eco.database, image["image_id"])) == 1


async def test_racing_puts_and_registrations_of_one_photo_count_once(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    puts = await asyncio.gather(*(put_bytes(eco, upload) for _ in range(3)))
    assert sorted(put.status_code for put in puts) == [204, 409, 409]

    registered = await asyncio.gather(
        *(register(eco, user, upload_id=upload.upload_id) for _ in range(3))
    )
    assert [answer.status_code for answer in registered] == [201] * 3
    [image_id] = {answer.json()["image_id"] for answer in registered}
    assert len(await events_of_image(eco.database, image_id)) == 1


async def test_registering_before_the_bytes_arrive_is_409(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    before = await eco_rows(eco.database)
    registered = await register(eco, user, upload_id=upload.upload_id)
    assert_error(registered, 409, "upload_incomplete")
    assert await eco_rows(eco.database) == before


async def test_another_users_upload_is_404_like_a_missing_one(eco: EcoWorld) -> None:
    alice, bob = await quick_users(eco, 2)
    upload = await presign(eco, alice)
    assert (await put_bytes(eco, upload)).status_code == 204
    before = await eco_rows(eco.database)
    foreign = await register(eco, bob, upload_id=upload.upload_id)
    missing = await register(eco, bob, upload_id=str(uuid.uuid4()))
    assert_error(foreign, 404, "upload_not_found")
    assert foreign.json() == missing.json()
    assert await eco_rows(eco.database) == before
    assert (await register(eco, alice, upload_id=upload.upload_id)).status_code == 201


async def test_a_cdn_url_registers_as_an_image(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    url = "https://cdn.example.com/photos/glass_jar.jpg"
    registered = await register(eco, user, cdn_url=url)
    assert registered.status_code == 201, registered.text
    image = registered.json()
    assert (image["url"], image["content_type"], image["size"]) == (url, None, None)
    [event] = await events_of_image(eco.database, image["image_id"])
    assert event["payload"]["url"] == url


async def test_register_takes_exactly_one_of_upload_id_and_cdn_url(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    bodies: dict[str, dict[str, str]] = {
        "neither": {},
        "both": {"upload_id": str(uuid.uuid4()), "cdn_url": "https://cdn.example.com/a.jpg"},
        "not http": {"cdn_url": "ftp://cdn.example.com/a.jpg"},
    }
    before = await eco_rows(eco.database)
    got = {label: error_of(await register(eco, user, **body)) for label, body in bodies.items()}
    assert got == dict.fromkeys(bodies, (422, "validation_error"))
    assert await eco_rows(eco.database) == before


# Into the saga


async def scan_knows(world: EcoWorld, image_id: str) -> bool:
    async with world.database.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM eco_scan.images WHERE image_id = :id"), {"id": image_id}
        )
        return bool(found)


async def classified(world: EcoWorld, user: EcoUser, filename: str) -> dict[str, Any]:
    """The settled scan of a photo uploaded and registered under `filename`."""
    _, image = await uploaded_image(world, user, filename)
    await eventually(lambda: scan_knows(world, image["image_id"]), bool, timeout=60)
    accepted = await world.classify(user, image_id=image["image_id"])
    assert accepted.status_code == 202, accepted.text
    return await world.settled(user, accepted.json()["task_id"], timeout=60)


async def test_a_registered_photo_is_classified_by_its_file_name(
    eco: EcoWorld, saga_processes: dict[str, subprocess.Popen[bytes]]
) -> None:
    [user] = await quick_users(eco, 1)
    bottle = await classified(eco, user, "pet_bottle.jpg")
    assert (bottle["status"], bottle["category"]) == ("completed", "plastic")
    assert bottle["disposal_guide"]["category"] == "plastic"
    assert bottle["reward"]["status"] == "granted"
    jar = await classified(eco, user, "glass_jar.jpg")
    assert (jar["status"], jar["category"]) == ("completed", "glass")
