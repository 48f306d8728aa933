"""Plain SQL on a session's asyncpg connection runs inside the session's transaction, also
as the session's first statement: it commits and rolls back with the session."""

from __future__ import annotations

import uuid
from typing import cast

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import text

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import read_one, transaction_connection
from tests.probe import is_stored, probe_table


@pytest.fixture
async def probe(database: Database) -> str:
    return await probe_table(database, "raw_sql_probe")


async def _stored(database: Database, row: uuid.UUID) -> bool:
    return await is_stored(database, "public.raw_sql_probe", row)


class Refused(Exception):
    pass


async def test_a_first_statement_is_rolled_back_with_the_session(
    database: Database, probe: str
) -> None:
    row = uuid.uuid4()

    async def insert_then_fail() -> None:
        async with database.unit_of_work() as session:
            raw = await transaction_connection(session)
            assert raw.is_in_transaction()
            await raw.execute(f"INSERT INTO {probe} (id) VALUES ($1)", row)
            raise Refused

    with pytest.raises(Refused):
        await insert_then_fail()
    assert not await _stored(database, row)


async def test_a_first_statement_commits_with_the_session(database: Database, probe: str) -> None:
    row = uuid.uuid4()
    async with database.unit_of_work() as session:
        raw = await transaction_connection(session)
        await raw.execute(f"INSERT INTO {probe} (id) VALUES ($1)", row)
        assert not await _stored(database, row)  # not visible before the commit
    assert await _stored(database, row)


async def test_after_orm_statements_it_is_the_same_transaction(
    database: Database, probe: str
) -> None:
    async with database.unit_of_work() as session:
        backend = await session.scalar(text("SELECT txid_current()"))
        raw = await transaction_connection(session)
        assert await raw.fetchval("SELECT txid_current()") == backend
        assert await transaction_connection(session) is raw


async def test_a_lone_read_begins_no_transaction(database: Database, probe: str) -> None:
    row = uuid.uuid4()
    async with database.engine.begin() as connection:
        await connection.execute(text(f"INSERT INTO {probe} (id) VALUES (:i)"), {"i": row})
    async with database.unit_of_work() as session:
        found = await read_one(session, f"SELECT id FROM {probe} WHERE id = $1", row)
        assert found is not None
        assert found["id"] == row
        assert not session.in_transaction(), "no BEGIN (nor COMMIT) for a request's lone read"


async def test_a_read_after_a_write_sees_the_write_in_its_transaction(
    database: Database, probe: str
) -> None:
    row = uuid.uuid4()
    async with database.unit_of_work() as session:
        await session.execute(text(f"INSERT INTO {probe} (id) VALUES (:i)"), {"i": row})
        found = await read_one(session, f"SELECT id FROM {probe} WHERE id = $1", row)
        assert found is not None, "the uncommitted row is seen: the read ran in the transaction"
    assert await _stored(database, row)


async def test_plain_sql_first_sends_begin_alone_then_the_statement(
    database: Database, probe: str
) -> None:
    """No empty statement rides along to begin the transaction: BEGIN, then the SQL."""
    sent: list[str] = []

    def log(record: LoggedQuery) -> None:
        sent.append(record.query)

    async with database.unit_of_work() as session:
        pooled = await (await session.connection()).get_raw_connection()
        driver = cast("asyncpg.Connection[asyncpg.Record]", pooled.driver_connection)
        driver.add_query_logger(log)
        raw = await transaction_connection(session)
        await raw.execute(f"INSERT INTO {probe} (id) VALUES ($1)", uuid.uuid4())
        driver.remove_query_logger(log)
    assert [query.split()[0].rstrip(";") for query in sent] == ["BEGIN", "INSERT"], sent
