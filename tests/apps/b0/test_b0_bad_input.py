"""Schemathesis against a real `ensemble serve --app b0`: bad input is a 4xx, never a 5xx.

Every operation of the B0 OpenAPI document gets generated requests (valid and invalid) sent
over real HTTP, as a registered traveller who has a ticket, a stay in a room, a diary and a
question to answer, with generated ids often replaced by those rows' ids so requests reach
past the 404s. Every answer must be below 500, and every 4xx must carry the JSON error shape.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.kernel.db import Database
from ensemble.kernel.pagination import encode_cursor
from tests.apicheck import (
    Known,
    Server,
    assert_documented,
    assert_error_shape,
    call_fuzzed,
    fuzz_schema,
    send,
    serve,
)
from tests.apps.b0.conftest import B0World
from tests.apps.b0.helpers import check_in, question

# Fuzzing examples per operation (the coverage phase adds its own cases); raise it for a deep run.
MAX_EXAMPLES = int(os.environ.get("B0_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def b0_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve("b0", database_url, redis_url, tmp_path_factory.mktemp("b0-server")) as server:
        yield server


async def scene(world: B0World, *, arrived: bool) -> Known:
    """A traveller with a diary and a question to answer, and a ticket: completed with a stay
    in a room if `arrived`, else still boarding."""
    city, airship = await world.city(), await world.airship()
    traveller = await world.traveller()
    trip: dict[str, str] = {}
    if arrived:
        stay = await check_in(world, traveller, city, airship)
        trip = {"ticket_id": str(stay.ticket_id), "room_id": str(stay.room_id)}
    else:
        bought = await world.buy(traveller, city, airship)
        assert bought.status_code == 201, bought.text
        trip = {"ticket_id": bought.json()["ticket_id"]}
    diary = await world.client.post(
        "/api/v1/diaries", json={"title": "Fuzzed", "content": "x"}, headers=traveller.headers
    )
    assert diary.status_code == 201, diary.text
    return Known(
        headers=traveller.headers,
        values={
            "city_id": str(city),
            "airship_id": str(airship),
            "diary_id": diary.json()["diary_id"],
            "question_id": str(await question(world)),
            **trip,
        },
    )


@pytest.fixture
async def guest(b0: B0World) -> Known:
    return await scene(b0, arrived=True)


@pytest.fixture
async def boarding(b0: B0World) -> Known:
    return await scene(b0, arrived=False)


@pytest.fixture
def b0_schema(b0_server: Server) -> OpenApiSchema:
    return fuzz_schema(b0_server, MAX_EXAMPLES)


# One scene serves all the examples of a test: operations that end the trip (check-out,
# cancel) are fuzzed apart, so the others keep reaching a room and a ticket.
schema = schemathesis.pytest.from_fixture("b0_schema")
ENDS_THE_TRIP = r"/(check-out|cancel)$"


@schema.exclude(path_regex=ENDS_THE_TRIP).parametrize()
def test_bad_input_is_a_4xx_with_the_error_shape(
    case: Case[Any], guest: Known, b0_server: Server
) -> None:
    assert_documented(case, call_fuzzed(case, b0_server, guest.headers, guest.values))


@schema.include(path_regex=r"/cancel$").parametrize()
def test_bad_cancellations_are_a_4xx(case: Case[Any], boarding: Known, b0_server: Server) -> None:
    assert_documented(case, call_fuzzed(case, b0_server, boarding.headers, boarding.values))


@schema.include(path_regex=r"/check-out$").parametrize()
def test_bad_check_outs_are_a_4xx(case: Case[Any], guest: Known, b0_server: Server) -> None:
    assert_documented(case, call_fuzzed(case, b0_server, guest.headers, guest.values))


@pytest.mark.parametrize(
    "path", ["/users/me", "/tickets/{ticket_id}", "/rooms/{room_id}/members", "/diaries/{diary_id}"]
)
def test_server_shares_the_test_database_and_key(
    b0_server: Server, guest: Known, path: str
) -> None:
    """Guards the fuzz run against passing vacuously on 401s, 404s or an empty database."""
    response = send(b0_server, "GET", f"/api/v1{path}", headers=guest.headers, values=guest.values)
    assert response.status_code == 200, response.text


# Values PostgreSQL refuses although the schemas accept them: NUL in text, numbers and
# datetimes out of its range in cursors. Sampled fuzzing may miss one; these always run.
NUL = "a\u0000b"
AFTER_MAX = "9999-12-31T23:59:59-14:00"
TOO_BIG = 2**70


def cursor(*key: Any) -> dict[str, str]:
    return {"cursor": encode_cursor(key)}


def bad(
    label: str, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
) -> Any:
    return pytest.param(method, "/api/v1" + path, body, params, id=label)


REJECTED_BY_POSTGRES = [
    bad("nickname NUL", "PATCH", "/users/me", {"nickname": NUL}),
    bad("diary title NUL", "POST", "/diaries", {"title": NUL, "content": "x"}),
    bad("diary content NUL", "POST", "/diaries", {"title": "x", "content": NUL}),
    bad("diary mood NUL", "POST", "/diaries", {"title": "x", "content": "x", "mood": NUL}),
    bad("answer NUL", "POST", "/questionnaires/{question_id}/answer", {"content": NUL}),
    bad("points cursor", "GET", "/points/transactions", params=cursor(TOO_BIG)),
    bad("cities cursor", "GET", "/cities", params=cursor(TOO_BIG, uuid.uuid4())),
    bad("airships cursor", "GET", "/airships", params=cursor(-TOO_BIG, uuid.uuid4())),
    bad("tickets cursor", "GET", "/tickets", params=cursor(AFTER_MAX, uuid.uuid4())),
    bad(
        "messages cursor",
        "GET",
        "/rooms/{room_id}/messages",
        params=cursor(AFTER_MAX, uuid.uuid4()),
    ),
    bad("diaries cursor", "GET", "/diaries", params=cursor("0000-01-01", uuid.uuid4())),
]


@pytest.mark.parametrize(("method", "path", "body", "params"), REJECTED_BY_POSTGRES)
def test_values_postgres_rejects_are_a_4xx(
    b0_server: Server,
    guest: Known,
    method: str,
    path: str,
    body: Any,
    params: dict[str, str] | None,
) -> None:
    response = send(
        b0_server,
        method,
        path,
        body=body,
        params=params,
        headers=guest.headers,
        values=guest.values,
    )
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert_error_shape(response.json())
