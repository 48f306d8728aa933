"""Photos in an S3-compatible object store (`ECO_S3_ENDPOINT_URL`, `ECO_S3_BUCKET`): the
presigned URL is the store's own, the client PUTs there over HTTP, and registering checks
the object. The store is moto's S3 server, a real HTTP server speaking the S3 protocol."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.apicheck import assert_error
from tests.apps.eco.conftest import API, EcoWorld, quick_users
from tests.conftest import in_process_client

BUCKET = "eco-photos"
PHOTO = b"\xff\xd8\xff\xe0" + b"s3 photo bytes" * 64


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
async def s3_world(
    settings: Settings, database: Database, s3_endpoint: str
) -> AsyncIterator[EcoWorld]:
    eco = EcoSettings(
        s3_endpoint_url=s3_endpoint,
        s3_bucket=BUCKET,
        s3_access_key=SecretStr("test"),
        s3_secret_key=SecretStr("test"),
    )
    async with in_process_client(settings, database, "eco", eco=eco) as client:
        yield EcoWorld(settings, database, client)


async def _presign(world: EcoWorld, headers: dict[str, str]) -> dict[str, Any]:
    response = await world.client.post(
        f"{API}/images/presigned-url",
        json={"content_type": "image/jpeg", "size": len(PHOTO), "filename": "can.jpg"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_photo_goes_to_the_object_store_and_is_registered(
    s3_world: EcoWorld, s3_endpoint: str
) -> None:
    [user] = await quick_users(s3_world, 1)
    upload = await _presign(s3_world, user.headers)
    url = str(upload["upload_url"])
    assert url.startswith(f"{s3_endpoint}/{BUCKET}/uploads/{upload['upload_id']}/can.jpg?")

    early = await s3_world.client.post(
        f"{API}/images/register", json={"upload_id": upload["upload_id"]}, headers=user.headers
    )
    assert_error(early, 409, "upload_incomplete")

    async with httpx.AsyncClient() as http:
        stored = await http.put(url, content=PHOTO, headers=upload["headers"])
    assert stored.status_code == 200, stored.text

    registered = await s3_world.client.post(
        f"{API}/images/register", json={"upload_id": upload["upload_id"]}, headers=user.headers
    )
    assert registered.status_code == 201, registered.text
    image = registered.json()
    assert image["url"] == f"{s3_endpoint}/{BUCKET}/uploads/{upload['upload_id']}/can.jpg"
    assert image["size"] == len(PHOTO)


async def test_the_apps_own_upload_route_refuses_when_photos_go_to_the_store(
    s3_world: EcoWorld,
) -> None:
    [user] = await quick_users(s3_world, 1)
    upload = await _presign(s3_world, user.headers)
    response = await s3_world.client.put(
        f"{API}/images/uploads/{upload['upload_id']}?expires=1&signature={'0' * 64}",
        content=PHOTO,
        headers={"Content-Type": "image/jpeg"},
    )
    assert_error(response, 400, "upload_not_here")
