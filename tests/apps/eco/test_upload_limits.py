"""Upload bodies: the signed URL is checked before a byte of the body is read, a body is
read only up to the size the upload asked for, and the upload route's own limit
(`ECO_UPLOAD_MAX_BYTES`) replaces the default one (`MAX_BODY_BYTES`)."""

from __future__ import annotations

from ensemble.apps.eco.settings import EcoSettings
from tests.apicheck import assert_error
from tests.apps.eco.conftest import API, EcoWorld, presign, quick_users, register
from tests.streams import CHUNK, CountedBody

HUGE = 300 * 2**20


async def test_a_bad_signature_is_refused_before_the_body_is_read(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    path, signature = upload.path.rsplit("signature=", 1)
    forged = path + "signature=" + ("0" if signature[0] != "0" else "1") + signature[1:]
    body = CountedBody(HUGE)
    response = await eco.client.put(forged, content=body, headers=upload.headers)
    assert_error(response, 403, "invalid_signature")
    assert body.pulled == 0


async def test_a_body_longer_than_requested_is_refused_as_it_passes_the_size(
    eco: EcoWorld,
) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user, size=CHUNK)
    body = CountedBody(HUGE)
    response = await eco.client.put(upload.path, content=body, headers=upload.headers)
    assert_error(response, 422, "size_mismatch")
    assert body.pulled == 2 * CHUNK


async def test_a_declared_length_over_the_upload_limit_is_413_unread(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user)
    body = CountedBody(HUGE)
    declared = str(EcoSettings().upload_max_bytes + 1)
    response = await eco.client.put(
        upload.path, content=body, headers={**upload.headers, "Content-Length": declared}
    )
    assert_error(response, 413, "payload_too_large")
    assert body.pulled == 0


async def test_an_upload_larger_than_the_default_body_limit_is_taken(eco: EcoWorld) -> None:
    size = 2 * eco.settings.max_body_bytes
    assert size <= EcoSettings().upload_max_bytes
    [user] = await quick_users(eco, 1)
    upload = await presign(eco, user, size=size)
    response = await eco.client.put(upload.path, content=b"\xff" * size, headers=upload.headers)
    assert response.status_code == 204, response.text
    registered = await register(eco, user, upload_id=upload.upload_id)
    assert registered.status_code == 201, registered.text
    assert registered.json()["size"] == size


async def test_other_routes_keep_the_default_limit(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    padding = "x" * eco.settings.max_body_bytes
    response = await eco.client.post(
        f"{API}/images/presigned-url",
        json={"content_type": "image/jpeg", "size": 10, "filename": padding},
        headers=user.headers,
    )
    assert_error(response, 413, "payload_too_large")
