"""Schemathesis over Focus Mate's whole OpenAPI document, against a real
`ensemble serve --app focus`: every operation answers generated input (valid and not) below
500, with a documented status, and every 4xx in the JSON error shape.

The caller owns a room whose timer runs, a post with a comment, a conversation with a
message, a notification, a device and an open focus session (`scene.py`); generated ids are
often aimed at those rows so requests reach past the 404s. The `/admin` operations are
called by an administrator. Served with every app (`/focus`), the app is the same routers
under a prefix: a test checks it documents the same operations and serves them there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.kernel.db import Database
from tests.apicheck import (
    Known,
    Server,
    assert_documented,
    call_fuzzed,
    fuzz_schema,
    send,
    serve,
)
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.scene import Scene, build_scene

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


def operations(document: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """The app's operations (not the process's `/health` and `/ready`)."""
    return {
        (method, path): operation
        for path, methods in document["paths"].items()
        if path.startswith(API)
        for method, operation in methods.items()
    }


def test_served_with_every_app_it_is_the_same_api_under_focus(
    focus_server: Server, every_app: Server, owner: Known
) -> None:
    alone = httpx.get(f"{focus_server.base_url}/openapi.json").json()
    mounted = httpx.get(f"{every_app.base_url}/focus/openapi.json").json()
    assert operations(mounted) == operations(alone)
    for path in ("/rooms/{room_id}/timer", "/posts/{post_id}", "/settings"):
        response = send(
            every_app, "GET", "/focus" + API + path, headers=owner.headers, values=owner.values
        )
        assert response.status_code == 200, (path, response.text)
