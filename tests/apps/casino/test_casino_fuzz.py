"""Schemathesis over Casino-Club's whole OpenAPI document, against a real
`ensemble serve --app casino`: every operation answers generated input (valid and not)
below 500, with a documented status, and every 4xx in the JSON error shape.

The caller is a member of the scene (`scene.py`); generated ids are often aimed at its rows
so requests reach past the 404s. The `/api/admin` operations are called by an
administrator. Served with every app (`/casino`), the app is the same routers under a
prefix: a test checks it documents the same operations and serves them there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.kernel.db import Database
from tests.apicheck import (
    Known,
    Server,
    assert_documented,
    assert_mounted_alike,
    call_fuzzed,
    fuzz_schema,
    send,
    serve,
)
from tests.apps.casino.conftest import API, CasinoWorld
from tests.apps.casino.scene import Scene, build_scene

MAX_EXAMPLES = int(os.environ.get("CASINO_FUZZ_EXAMPLES", "15"))
"""Generated cases per operation (the coverage phase adds its own); raise it for a deep run."""
ADMIN = r"^/api/admin/"
FREE_FORM = ("code",)
"""Known values that are no ids: a generated value of any shape may be replaced."""


@pytest.fixture(scope="module")
def casino_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir, env = tmp_path_factory.mktemp("casino"), {"CASINO_NOTIFICATION_STREAM_SECONDS": "0.2"}
    with serve("casino", database_url, redis_url, workdir, env) as server:
        yield server


@pytest.fixture
async def scene(casino: CasinoWorld) -> Scene:
    return await build_scene(casino)


@pytest.fixture
def member(scene: Scene) -> Known:
    return Known(headers=scene.member.headers, values=scene.values)


@pytest.fixture
def admin(scene: Scene) -> Known:
    return Known(headers=scene.admin.headers, values=scene.values)


@pytest.fixture
def casino_schema(casino_server: Server) -> OpenApiSchema:
    return fuzz_schema(casino_server, MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("casino_schema")


@schema.exclude(path_regex=ADMIN).parametrize()
def test_bad_input_is_a_documented_4xx_with_the_error_shape(
    case: Case[Any], member: Known, casino_server: Server
) -> None:
    answer = call_fuzzed(case, casino_server, member.headers, member.values, free_form=FREE_FORM)
    assert_documented(case, answer)


@schema.include(path_regex=ADMIN).parametrize()
def test_bad_operator_input_is_a_documented_4xx(
    case: Case[Any], admin: Known, casino_server: Server
) -> None:
    answer = call_fuzzed(case, casino_server, admin.headers, admin.values, free_form=FREE_FORM)
    assert_documented(case, answer)


@pytest.mark.parametrize("path", ["/auth/me", "/auth/sessions", "/inventory"])
def test_the_server_knows_the_fuzzing_caller(
    casino_server: Server, member: Known, path: str
) -> None:
    """Fuzzing would pass vacuously if every request were a 401."""
    response = send(casino_server, "GET", API + path, headers=member.headers, values=member.values)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def every_app(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(None, database_url, redis_url, tmp_path_factory.mktemp("every-app")) as server:
        yield server


def test_served_with_every_app_it_is_the_same_api_under_casino(
    casino_server: Server, every_app: Server, member: Known
) -> None:
    paths = ("/auth/me", "/inventory", "/users/{user_id}/profile")
    assert_mounted_alike(casino_server, every_app, "/casino", API, member, paths)
