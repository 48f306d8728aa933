"""Helpers of the 1:1 message and notification tests: conversations and messages over the
API, the app's background work run in the test's process, and row counts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from ensemble.kernel.db import Database
from ensemble.kernel.jobs.models import OutboxJob
from tests.apps.focus.conftest import API, FocusUser, FocusWorld


async def open_conversation(
    world: FocusWorld, user: FocusUser, peer: FocusUser, status: int = 201
) -> str:
    response = await world.client.post(
        f"{API}/conversations", json={"user_id": str(peer.user_id)}, headers=user.headers
    )
    assert response.status_code == status, response.text
    conversation_id: str = response.json()["conversation_id"]
    return conversation_id


async def send(
    client: httpx.AsyncClient,
    user: FocusUser,
    conversation_id: str,
    text: str,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations/{conversation_id}/messages",
        json={"text": text, **fields},
        headers={**user.headers, **(headers or {})},
    )


async def sent(world: FocusWorld, user: FocusUser, conversation_id: str, text: str) -> Any:
    response = await send(world.client, user, conversation_id, text)
    assert response.status_code == 201, response.text
    return response.json()


async def all_pages(
    world: FocusWorld, user: FocusUser, path: str, limit: int, **query: Any
) -> list[Any]:
    """Every item of a cursor-paginated list, `limit` a page (with `query`'s parameters)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params = {**query, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await world.client.get(f"{API}{path}", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def conversations(world: FocusWorld, user: FocusUser) -> list[Any]:
    return await all_pages(world, user, "/conversations", 100)


async def unread(world: FocusWorld, user: FocusUser, conversation_id: str) -> int:
    listed = await conversations(world, user)
    [found] = [c for c in listed if c["conversation_id"] == conversation_id]
    unread_count: int = found["unread_count"]
    return unread_count


async def count(database: Database, column: InstrumentedAttribute[Any], *where: Any) -> int:
    """Rows of `column`'s table (matching `where`)."""
    async with database.sessionmaker() as session:
        stmt = select(func.count(column)).where(*where)
        return int(await session.scalar(stmt) or 0)


async def jobs_requested(database: Database, name: str) -> list[dict[str, Any]]:
    """The parameters of the `name` jobs requested so far, oldest first."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxJob.kwargs).where(OutboxJob.job == name).order_by(OutboxJob.id)
        )
        return [dict(kwargs) for kwargs in rows]


def a_uuid() -> str:
    return str(uuid.uuid4())
