"""Schemathesis against a real `ensemble serve --app eco`: bad input is a 4xx, never a 5xx.

Every operation of the ECO² OpenAPI document gets generated requests (valid and invalid) sent
over real HTTP, as a user who has an uploaded and registered photo, a scan task of it and a
chat session, with generated ids often replaced by those rows' ids so requests reach past the
404s (the admin operations as an admin). Every answer must be below 500 and every 4xx must
carry the JSON error shape. Then fixed cases sampled fuzzing may miss, which must all be
refused without writing anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.apps.eco.models import Role
from ensemble.kernel.pagination import encode_cursor
from tests.apicheck import (
    Known,
    Server,
    assert_documented,
    call_fuzzed,
    fuzz_schema,
    refusal_problem,
    send,
)
from tests.apps.eco.conftest import API, EcoWorld, eco_rows, uploaded_image

# Fuzzing examples per operation (the coverage phase adds its own cases); raise it for a deep run.
MAX_EXAMPLES = int(os.environ.get("ECO_FUZZ_EXAMPLES", "10"))


async def scene(world: EcoWorld, role: Role = Role.USER) -> Known:
    """A user (or admin) with a registered photo, a scan task of it and a chat session."""
    user = await world.user(role)
    upload, image = await uploaded_image(world, user)
    task = await world.classify(user, key="fuzz", image_id=image["image_id"])
    assert task.status_code == 202, task.text
    chat = await world.client.post(
        f"{API}/chat/sessions", json={"title": "Fuzzed"}, headers=user.headers
    )
    assert chat.status_code == 201, chat.text
    return Known(
        headers=user.headers,
        values={
            "upload_id": upload.upload_id,
            "image_id": image["image_id"],
            "task_id": task.json()["task_id"],
            "session_id": chat.json()["session_id"],
        },
    )


@pytest.fixture
async def user(eco: EcoWorld) -> Known:
    return await scene(eco)


@pytest.fixture
async def admin(eco: EcoWorld) -> Known:
    return await scene(eco, Role.ADMIN)


@pytest.fixture
def eco_schema(eco_server: Server) -> OpenApiSchema:
    return fuzz_schema(eco_server, MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("eco_schema")
ADMIN_PATHS = r"/admin/"


@schema.exclude(path_regex=ADMIN_PATHS).parametrize()
def test_bad_input_is_a_4xx_with_the_error_shape(
    case: Case[Any], user: Known, eco_server: Server
) -> None:
    assert_documented(case, call_fuzzed(case, eco_server, user.headers, user.values))


@schema.include(path_regex=ADMIN_PATHS).parametrize()
def test_bad_operator_input_is_a_4xx(case: Case[Any], admin: Known, eco_server: Server) -> None:
    assert_documented(case, call_fuzzed(case, eco_server, admin.headers, admin.values))


@pytest.mark.parametrize(
    "path",
    [
        "/auth/me",
        "/scan/tasks/{task_id}",
        "/chat/sessions/{session_id}/messages",
        "/scan/history",
    ],
)
def test_server_shares_the_test_database_and_key(
    eco_server: Server, user: Known, path: str
) -> None:
    """Guards the fuzz run against passing vacuously on 401s, 404s or an empty database."""
    response = send(eco_server, "GET", API + path, headers=user.headers, values=user.values)
    assert response.status_code == 200, response.text


# Fixed cases: values the schemas let through to PostgreSQL (NUL in text, datetimes past
# its range) and malformed values of every kind of parameter.

NUL = "a\u0000b"
TOO_BIG = 2**70
SIGNATURE = "0" * 64


@dataclass(frozen=True)
class Bad:
    label: str
    method: str
    path: str
    body: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


def keyed(key: str) -> Bad:
    headers = {"Idempotency-Key": key}
    return Bad(
        f"Idempotency-Key {key[:10]!r}",
        "POST",
        "/scan/classify",
        {"user_input": "캔"},
        headers=headers,
    )


def nearby(**params: str) -> Bad:
    where = {"lat": "37.57", "lng": "126.98", **params}
    return Bad(f"nearby {params}", "GET", "/locations/nearby", params=where)


BAD_INPUT = [
    Bad("nickname NUL", "PATCH", "/my/profile", {"nickname": NUL}),
    Bad("chat title NUL", "POST", "/chat/sessions", {"title": NUL}),
    Bad("question NUL", "POST", "/chat/sessions/{session_id}/messages", {"content": NUL}),
    Bad("scan text NUL", "POST", "/scan/classify", {"user_input": NUL}),
    Bad(
        "file name NUL",
        "POST",
        "/images/presigned-url",
        {"content_type": "image/png", "size": 1, "filename": NUL},
    ),
    Bad(
        "sign-up email NUL",
        "POST",
        "/auth/signup",
        {"email": f"{NUL}@example.com", "password": "x" * 8},
    ),
    Bad("login email NUL", "POST", "/auth/login", {"email": NUL, "password": "x"}),
    Bad("refresh token NUL", "POST", "/auth/refresh", {"refresh_token": NUL}),
    Bad(
        "huge size", "POST", "/images/presigned-url", {"content_type": "image/png", "size": TOO_BIG}
    ),
    Bad("huge limit", "GET", "/scan/history", params={"limit": str(TOO_BIG)}),
    Bad("huge ranking", "GET", "/characters/ranking", params={"limit": str(TOO_BIG)}),
    Bad(
        "huge expiry",
        "PUT",
        "/images/uploads/{upload_id}",
        params={"expires": str(TOO_BIG), "signature": SIGNATURE},
    ),
    Bad("image id a number", "POST", "/scan/classify", {"image_id": -1}),
    Bad(
        "instant past max",
        "GET",
        "/characters/me/history",
        params={"at": "9999-12-31T23:59:59-14:00"},
    ),
    Bad(
        "instant before min",
        "GET",
        "/characters/me/history",
        params={"at": "0001-01-01T00:00:00+14:00"},
    ),
    Bad("naive instant", "GET", "/characters/me/history", params={"at": "2026-01-01T00:00:00"}),
    Bad("task id", "GET", "/scan/tasks/not-a-uuid"),
    Bad("session id", "GET", "/chat/sessions/12345/messages"),
    Bad(
        "upload id in path",
        "PUT",
        "/images/uploads/{upload_id}x",
        params={"expires": "1", "signature": SIGNATURE},
    ),
    Bad("upload id in body", "POST", "/images/register", {"upload_id": "not-a-uuid"}),
    Bad("image id in body", "POST", "/scan/classify", {"image_id": "{task_id}-0"}),
    Bad("cursor not base64", "GET", "/scan/history", params={"cursor": "!!!"}),
    Bad("cursor huge", "GET", "/notifications", params={"cursor": encode_cursor([TOO_BIG])}),
    Bad(
        "cursor not an id",
        "GET",
        "/chat/sessions/{session_id}/messages",
        params={"cursor": encode_cursor(["x"])},
    ),
    Bad("cursor too long", "GET", "/notifications", params={"cursor": "A" * 600}),
    keyed("a b"),
    keyed("a\tb"),
    keyed(""),
    keyed("k" * 201),
    nearby(lat="90.5"),
    nearby(lat="-91"),
    nearby(lng="180.01"),
    nearby(lng="-181"),
    nearby(lat="nan"),
    nearby(lng="inf"),
    nearby(radius_km="0"),
    nearby(radius_km="1e308"),
]


async def test_bad_values_are_a_4xx_and_write_nothing(
    eco: EcoWorld, eco_server: Server, user: Known
) -> None:
    before = await eco_rows(eco.database)
    answers = {
        bad.label: send(
            eco_server,
            bad.method,
            API + bad.path,
            body=bad.body,
            params=bad.params,
            headers={**user.headers, **(bad.headers or {})},
            values=user.values,
        )
        for bad in BAD_INPUT
    }
    problems = {label: refusal_problem(answer) for label, answer in answers.items()}
    assert {label: found for label, found in problems.items() if found} == {}
    assert await eco_rows(eco.database) == before
