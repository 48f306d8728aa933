"""Schemathesis over Focus Mate's whole OpenAPI document, against a real
`ensemble serve --app focus`: every operation answers generated input (valid and not) below
500, with a documented status, and every 4xx in the JSON error shape.

The caller owns a room whose timer runs, a post with a comment, a conversation with a
message, a notification, a device and an open focus session (`scene.py`); generated ids are
often aimed at those rows so requests reach past the 404s. The `/admin` operations are
called by an administrator. Then fixed cases generation rarely reaches, refused with
nothing written. Served with every app (`/focus`), the app is the same routers under a
prefix: a test checks it documents the same operations and serves them there, rather than
fuzzing it twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.kernel.db import Database, new_id
from ensemble.kernel.pagination import encode_cursor
from tests.apicheck import (
    Known,
    Server,
    assert_documented,
    assert_mounted_alike,
    call_fuzzed,
    fill,
    fuzz_schema,
    refusal_problem,
    send,
    serve,
)
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.scene import Scene, all_rows, build_scene

MAX_EXAMPLES = int(os.environ.get("FOCUS_FUZZ_EXAMPLES", "15"))
"""Generated cases per operation (the coverage phase adds its own); raise it for a deep run."""
ADMIN = r"^/api/v1/admin/"
FREE_FORM = ("token", "command")
"""Known values that are no ids: a generated value of any shape may be replaced."""


@pytest.fixture(scope="module")
def focus_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve("focus", database_url, redis_url, tmp_path_factory.mktemp("focus")) as server:
        yield server


@pytest.fixture
async def scene(focus: FocusWorld) -> Scene:
    return await build_scene(focus)


def known(scene: Scene, headers: dict[str, str]) -> Known:
    """The scene's rows, also under the names bodies give them."""
    values = {**scene.values, "up_to_message_id": scene.values["message_id"]}
    return Known(headers=headers, values=values)


@pytest.fixture
def owner(scene: Scene) -> Known:
    return known(scene, scene.owner.headers)


@pytest.fixture
def admin(scene: Scene) -> Known:
    return known(scene, scene.admin.headers)


@pytest.fixture
def focus_schema(focus_server: Server) -> OpenApiSchema:
    return fuzz_schema(focus_server, MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("focus_schema")


@schema.exclude(path_regex=ADMIN).parametrize()
def test_bad_input_is_a_documented_4xx_with_the_error_shape(
    case: Case[Any], owner: Known, focus_server: Server
) -> None:
    answer = call_fuzzed(case, focus_server, owner.headers, owner.values, free_form=FREE_FORM)
    assert_documented(case, answer)


@schema.include(path_regex=ADMIN).parametrize()
def test_bad_operator_input_is_a_documented_4xx(
    case: Case[Any], admin: Known, focus_server: Server
) -> None:
    answer = call_fuzzed(case, focus_server, admin.headers, admin.values, free_form=FREE_FORM)
    assert_documented(case, answer)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("owner", "/rooms/{room_id}/timer"),
        ("owner", "/posts/{post_id}/comments"),
        ("owner", "/conversations/{conversation_id}/messages"),
        ("owner", "/notifications"),
        ("owner", "/sessions/me"),
        ("admin", "/admin/reports"),
    ],
)
def test_the_server_knows_the_fuzzing_callers_and_rows(
    focus_server: Server, owner: Known, admin: Known, who: str, path: str
) -> None:
    """Fuzzing would pass vacuously if every request were a 401 or a 404, or found nothing."""
    caller = owner if who == "owner" else admin
    response = send(focus_server, "GET", API + path, headers=caller.headers, values=caller.values)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "running" if "timer" in path else body["items"], body


@pytest.fixture(scope="module")
def every_app(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(None, database_url, redis_url, tmp_path_factory.mktemp("every-app")) as server:
        yield server


def test_served_with_every_app_it_is_the_same_api_under_focus(
    focus_server: Server, every_app: Server, owner: Known
) -> None:
    assert_mounted_alike(
        focus_server,
        every_app,
        "/focus",
        API,
        owner,
        ("/rooms/{room_id}/timer", "/posts/{post_id}", "/settings"),
    )


# Fixed cases: values generation rarely reaches (a lone surrogate, which no UTF-8 text holds;
# NUL, which PostgreSQL text cannot hold; numbers and dates past every range; cursors of the
# wrong shape). Each must be a 4xx in the error shape, and nothing written.

SURROGATE = '"a\\ud800b"'  # JSON text: escapes are how a client sends one
NUL = '"a\\u0000b"'
HUGE = str(2**70)
EDGE = "9999-12-31T23:59:59-14:00"


@dataclass(frozen=True)
class Bad:
    label: str
    method: str
    path: str
    body: str | None = None  # raw JSON text, `{name}` placeholders filled
    params: dict[str, str] | None = None


def texts(value: str) -> list[Bad]:
    """`value` in every free text a body carries."""
    return [
        Bad(f"{field} {value}", method, path, body)
        for field, method, path, body in (
            ("room name", "POST", "/rooms", f'{{"name": {value}}}'),
            ("display name", "PATCH", "/users/me", f'{{"display_name": {value}}}'),
            ("post title", "POST", "/posts", f'{{"title": {value}}}'),
            ("comment", "POST", "/posts/{post_id}/comments", f'{{"body": {value}}}'),
            ("goal", "PATCH", "/sessions/{session_id}", f'{{"goal": {value}}}'),
            (
                "message",
                "POST",
                "/conversations/{conversation_id}/messages",
                f'{{"text": {value}}}',
            ),
            ("join code", "POST", "/rooms/{room_id}/join", f'{{"join_code": {value}}}'),
            ("time zone", "PATCH", "/settings", f'{{"timezone": {value}}}'),
            ("device", "POST", "/devices", f'{{"token": {value}, "platform": "web"}}'),
            (
                "reason",
                "POST",
                "/reports",
                f'{{"target_type": "post", "target_id": "{{post_id}}", "reason": {value}}}',
            ),
        )
    ]


def placed(body: str | None, values: dict[str, str]) -> str | None:
    """`body` with the `{name}` placeholders of `values` filled (JSON's own braces kept)."""
    for name, value in values.items():
        body = body and body.replace(f"{{{name}}}", value)
    return body


def stats_at(period: str, day: str, tz: str = "UTC") -> Bad:
    return Bad(
        f"{period} of {day} in {tz}",
        "GET",
        "/stats/me",
        None,
        {"period": period, "date": day, "tz": tz},
    )


BAD_INPUT = [
    *texts(SURROGATE),
    *texts(NUL),
    Bad("huge capacity", "POST", "/rooms", f'{{"name": "Huge", "max_participants": {HUGE}}}'),
    Bad("float minutes", "POST", "/rooms", '{"name": "Huge", "work_minutes": 1e400}'),
    Bad("huge limit", "GET", "/posts", params={"limit": HUGE}),
    stats_at("month", "9999-12-31"),
    stats_at("week", "9999-12-31"),
    stats_at("day", "9999-12-31"),
    stats_at("day", "0001-01-01", "Asia/Tokyo"),
    Bad("instant past max", "GET", "/sessions/me", params={"from": EDGE}),
    Bad("cursor of a number", "GET", "/rooms", params={"cursor": encode_cursor([int(HUGE)])}),
    Bad("cursor of nulls", "GET", "/posts", params={"cursor": encode_cursor([None, None])}),
    Bad(
        "cursor past max", "GET", "/blocks", params={"cursor": encode_cursor([EDGE, str(new_id())])}
    ),
    Bad("cursor of objects", "GET", "/conversations", params={"cursor": encode_cursor([{}, []])}),
]


async def test_values_generation_misses_are_a_4xx_and_write_nothing(
    focus: FocusWorld, focus_server: Server, owner: Known
) -> None:
    before = await all_rows(focus.database)
    problems = {}
    async with httpx.AsyncClient(base_url=focus_server.base_url + API, timeout=30) as client:
        for bad in BAD_INPUT:
            answer = await client.request(
                bad.method,
                fill(bad.path, owner.values),
                content=placed(bad.body, owner.values),
                params=bad.params,
                headers={**owner.headers, "Content-Type": "application/json"},
            )
            problems[bad.label] = refusal_problem(answer)
    assert {label: found for label, found in problems.items() if found} == {}
    assert await all_rows(focus.database) == before
