"""`after_commit`: callbacks run once the session's transaction committed (in a unit of work
and at the end of a request's session), never after a rollback, and one that fails neither
hides the commit nor stops the others."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from ensemble.kernel.db import Database, after_commit
from ensemble.kernel.db.session import _end
from tests.probe import is_stored, probe_table


@pytest.fixture
async def probe(database: Database) -> str:
    return await probe_table(database, "after_commit_probe")


async def _stored(database: Database, row: uuid.UUID) -> bool:
    return await is_stored(database, "public.after_commit_probe", row)


async def test_callbacks_run_after_the_commit_in_order(database: Database, probe: str) -> None:
    row, seen = uuid.uuid4(), []

    async def first() -> None:
        seen.append(("first", await _stored(database, row)))

    async def second() -> None:
        seen.append(("second", await _stored(database, row)))

    async with database.unit_of_work() as session:
        await session.execute(text(f"INSERT INTO {probe} VALUES (:i)"), {"i": row})
        after_commit(session, first)
        after_commit(session, second)
        assert seen == []
    assert seen == [("first", True), ("second", True)]


async def test_no_callback_runs_after_a_rollback(database: Database, probe: str) -> None:
    seen: list[str] = []

    async def callback() -> None:
        seen.append("ran")

    async def refused() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text(f"INSERT INTO {probe} VALUES (:i)"), {"i": uuid.uuid4()})
            after_commit(session, callback)
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await refused()
    assert seen == []


async def test_a_failing_callback_is_logged_and_the_next_still_runs(
    database: Database, probe: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def failing() -> None:
        raise ConnectionError("redis is down")

    async def next_one() -> None:
        seen.append("ran")

    async with database.unit_of_work() as session:
        after_commit(session, failing)
        after_commit(session, next_one)
    assert seen == ["ran"]
    assert "after-commit callback" in caplog.text


async def test_a_request_session_runs_them_on_commit_only(database: Database, probe: str) -> None:
    committed, rolled_back = uuid.uuid4(), uuid.uuid4()
    seen: list[bool] = []

    for row, commit in ((committed, True), (rolled_back, False)):
        session = database.sessionmaker()
        await session.execute(text(f"INSERT INTO {probe} VALUES (:i)"), {"i": row})

        async def callback(row: uuid.UUID = row) -> None:
            seen.append(await _stored(database, row))

        after_commit(session, callback)
        await _end(session, commit=commit)
    assert seen == [True]
