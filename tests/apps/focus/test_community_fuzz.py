"""Schemathesis against a real `ensemble serve --app focus`: every users, settings, community
and moderation operation answers bad input with a documented 4xx in the error shape, never
a 5xx. The caller is a moderator (the admin routes are reached too) with a post, a comment
and a report; generated ids are often aimed at them so requests get past the 404s."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.apps.focus.models import Role
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
from tests.apps.focus.conftest import FocusWorld
from tests.apps.focus.test_community import comment, write
from tests.apps.focus.test_moderation import report

MAX_EXAMPLES = int(os.environ.get("FOCUS_FUZZ_EXAMPLES", "20"))
OURS = r"^/api/v1/(users/|settings|posts|comments|reports|admin/(reports|posts|comments|users))"


@pytest.fixture(scope="module")
def focus_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve("focus", database_url, redis_url, tmp_path_factory.mktemp("focus")) as server:
        yield server


@pytest.fixture
async def moderator(focus: FocusWorld) -> Known:
    caller, author = await focus.user(Role.MODERATOR), await focus.user()
    post = await write(focus, author)
    reply = await comment(focus, author, post["post_id"])
    reported = await report(focus, caller, "post", post["post_id"])
    return Known(
        headers=caller.headers,
        values={
            "user_id": str(author.user_id),
            "post_id": post["post_id"],
            "comment_id": reply["comment_id"],
            "report_id": reported.json()["report_id"],
            "target_id": post["post_id"],
        },
    )


@pytest.fixture
def focus_schema(focus_server: Server) -> OpenApiSchema:
    return fuzz_schema(focus_server, MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("focus_schema")


@schema.include(path_regex=OURS).parametrize()
def test_bad_input_is_a_documented_4xx_with_the_error_shape(
    case: Case[Any], moderator: Known, focus_server: Server
) -> None:
    assert_documented(case, call_fuzzed(case, focus_server, moderator.headers, moderator.values))


def test_the_server_knows_the_fuzzing_caller_and_rows(
    focus_server: Server, moderator: Known
) -> None:
    """Fuzzing would pass vacuously if every request were a 401 or a 404."""
    for path in ("/api/v1/admin/reports", "/api/v1/posts/{post_id}", "/api/v1/settings"):
        response = send(
            focus_server, "GET", path, headers=moderator.headers, values=moderator.values
        )
        assert response.status_code == 200, (path, response.text)
