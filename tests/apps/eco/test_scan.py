"""Scan tasks: the 202 that only enqueues, idempotency keys (also raced), validation, the
classify job (completed, failed for a missing image, run twice), the sweep of stale scans,
and the history and stats read models."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ensemble.apps.eco import events, tasks
from ensemble.apps.eco.domain import classify_text, disposal_guide
from ensemble.apps.eco.models import Scan
from ensemble.apps.eco.scan.service import RECHECK_MAX, next_look
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.events.models import StoredEvent
from ensemble.kernel.jobs.models import OutboxJob
from tests.apicheck import assert_error
from tests.apps.eco.conftest import (
    API,
    EcoUser,
    EcoWorld,
    InlineSaga,
    all_pages,
    backdate_scan,
    failing_scan,
    image_wait,
    quick_users,
)

GLASS = {"user_input": "다 쓴 유리병을 버려요"}


async def accepted_task(world: EcoWorld, user: EcoUser, **body: Any) -> str:
    response = await world.classify(user, **body)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


async def scan_events(database: Database, task_id: str) -> list[str]:
    """The types of the scan's stream, in order."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(StoredEvent.type)
            .where(StoredEvent.aggregate_type == events.SCAN, StoredEvent.aggregate_id == task_id)
            .order_by(StoredEvent.sequence_number)
        )
        return list(rows)


async def classify_jobs(database: Database, task_id: str) -> int:
    return len(await classify_requests(database, task_id))


async def classify_requests(database: Database, task_id: str) -> list[OutboxJob]:
    """The scan's `scan.classify` requests in the job outbox, in the order they are due."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxJob)
            .where(
                OutboxJob.job == tasks.classify_scan.name,
                OutboxJob.kwargs["scan_id"].astext == task_id,
            )
            .order_by(OutboxJob.run_at)
        )
        return list(rows)


async def scans_of(database: Database, user: EcoUser) -> list[Scan]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(Scan).where(Scan.user_id == user.user_id)))


async def run_classify(saga: InlineSaga, task_id: str) -> None:
    """The `scan.classify` job's body, in its own transaction, as the worker runs it."""
    await saga.run(tasks.classify_scan, scan_id=task_id)


async def run_sweep(saga: InlineSaga) -> None:
    await saga.run(tasks.sweep_scans)


# Requesting


async def test_classify_answers_202_and_only_enqueues(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    response = await eco.classify(user, **GLASS)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"task_id", "status"}
    assert response.json()["status"] == "processing"
    task_id = response.json()["task_id"]
    task = await eco.task(user, task_id)
    assert (task["status"], task["category"], task["reward"]) == ("processing", None, None)
    assert await scan_events(eco.database, task_id) == [events.ScanRequested.TYPE]
    assert await classify_jobs(eco.database, task_id) == 1


async def test_the_same_key_and_body_return_the_same_task(eco: EcoWorld) -> None:
    user, other = await quick_users(eco, 2)
    body = {"user_input": "캔", "image_url": "https://cdn.example.com/can.jpg"}
    first = await accepted_task(eco, user, key="same", **body)
    again = await accepted_task(eco, user, key="same", **dict(reversed(body.items())))
    assert again == first
    assert [str(scan.id) for scan in await scans_of(eco.database, user)] == [first]
    assert await scan_events(eco.database, first) == [events.ScanRequested.TYPE]
    assert await classify_jobs(eco.database, first) == 1
    # a key belongs to its user: another user's request with it is a task of their own
    assert await accepted_task(eco, other, key="same", **body) != first


async def test_the_same_key_with_another_body_is_a_conflict(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    first = await accepted_task(eco, user, key="k", user_input="캔")
    reused = await eco.classify(user, key="k", user_input="유리병")
    assert_error(reused, 409, "idempotency_key_reused")
    assert [str(scan.id) for scan in await scans_of(eco.database, user)] == [first]


async def test_concurrent_requests_with_one_key_make_one_task(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    responses = await asyncio.gather(*(eco.classify(user, key="raced", **GLASS) for _ in range(20)))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    task_ids = {r.json()["task_id"] for r in responses}
    assert len(task_ids) == 1
    [task_id] = task_ids
    assert len(await scans_of(eco.database, user)) == 1
    assert await scan_events(eco.database, task_id) == [events.ScanRequested.TYPE]
    assert await classify_jobs(eco.database, task_id) == 1


BAD_REQUESTS: list[tuple[str, dict[str, Any], str | None]] = [
    ("empty", {}, None),
    ("all null", {"image_id": None, "image_url": None, "user_input": None}, None),
    ("not a URL", {"image_url": "not a url"}, None),
    ("ftp URL", {"image_url": "ftp://cdn.example.com/a.jpg"}, None),
    ("long URL", {"image_url": "https://cdn.example.com/" + "a" * 2000}, None),
    ("bad image id", {"image_id": "not-a-uuid"}, None),
    ("blank text", {"user_input": ""}, None),
    ("long text", {"user_input": "병" * 1001}, None),
    ("extra field", {"user_input": "병", "colour": "green"}, None),
    ("long key", {"user_input": "병"}, "k" * 201),
    ("key with a space", {"user_input": "병"}, "has space"),
]


async def test_bad_requests_are_422_and_write_nothing(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    for case, body, key in BAD_REQUESTS:
        response = await eco.classify(user, key=key, **body)
        assert response.status_code == 422, (case, response.text)
        assert_error(response, 422)
    assert await scans_of(eco.database, user) == []
    longest = await eco.classify(user, key="k" * 200, user_input="병" * 1000)
    assert longest.status_code == 202, longest.text


async def test_a_task_is_only_its_owners(eco: EcoWorld) -> None:
    owner, stranger = await quick_users(eco, 2)
    task_id = await accepted_task(eco, owner, **GLASS)
    for user, path in ((stranger, task_id), (owner, str(uuid.uuid4()))):
        found = await eco.client.get(f"{API}/scan/tasks/{path}", headers=user.headers)
        assert_error(found, 404, "task_not_found")


# The classify job


async def test_a_classified_task_is_completed_with_guide_and_reward(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    [user] = await quick_users(eco, 1)
    task_id = await accepted_task(eco, user, **GLASS)
    await run_classify(inline_saga, task_id)
    task = await eco.task(user, task_id)
    assert task["status"] == "completed"
    assert task["category"] == "glass"
    assert task["confidence"] == classify_text(GLASS["user_input"]).confidence
    assert task["disposal_guide"] == disposal_guide("glass")
    assert task["reward"] == {"status": "pending", "character": None, "reason": None}
    assert task["completed_at"] is not None
    assert await scan_events(eco.database, task_id) == [
        events.ScanRequested.TYPE,
        events.ScanCompleted.TYPE,
    ]

    await inline_saga.settle()
    rewarded = await eco.task(user, task_id)
    assert rewarded["reward"]["status"] == "granted"
    assert rewarded["reward"]["character"]["code"] == "glassy"

    food = await inline_saga.scan(eco, user, user_input="남은 음식물")
    assert (food["category"], food["reward"]["status"]) == ("food", "not_eligible")


async def test_running_the_classify_job_twice_changes_nothing(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    [user] = await quick_users(eco, 1)
    task_id = await accepted_task(eco, user, **GLASS)
    await run_classify(inline_saga, task_id)
    first = await eco.task(user, task_id)
    await run_classify(inline_saga, task_id)
    assert await eco.task(user, task_id) == first
    assert await scan_events(eco.database, task_id) == [
        events.ScanRequested.TYPE,
        events.ScanCompleted.TYPE,
    ]


async def test_a_scan_of_an_unknown_image_looks_again_later_then_fails(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    [user] = await quick_users(eco, 1)
    task_id = await accepted_task(eco, user, image_id=str(uuid.uuid4()))
    await run_classify(inline_saga, task_id)  # no error: the image may yet arrive
    assert (await eco.task(user, task_id))["status"] == "processing"
    [_, again] = await classify_requests(eco.database, task_id)
    assert utcnow() < again.run_at <= utcnow() + RECHECK_MAX, "one look later, delayed"

    await backdate_scan(eco.database, task_id, image_wait() + timedelta(seconds=1))
    await run_classify(inline_saga, task_id)
    task = await eco.task(user, task_id)
    assert (task["status"], task["error"], task["category"]) == ("failed", "image_not_found", None)
    assert task["completed_at"] is not None
    expected = [events.ScanRequested.TYPE, events.ScanFailed.TYPE]
    assert await scan_events(eco.database, task_id) == expected
    assert await classify_jobs(eco.database, task_id) == 2, "no look after the deadline"

    await run_classify(inline_saga, task_id)
    assert await scan_events(eco.database, task_id) == expected


def test_a_waiting_scan_looks_a_few_times_and_last_at_its_deadline() -> None:
    created, wait = utcnow(), timedelta(seconds=60)
    looks, now = [], created
    while (again := next_look(created, now, wait)) is not None:
        looks.append(again)
        now = again
    assert looks[-1] == created + wait
    assert len(looks) <= 20, "no retry storm"
    assert max(b - a for a, b in zip([created, *looks], looks, strict=False)) <= RECHECK_MAX


async def test_the_sweep_fails_stale_scans_once(eco: EcoWorld, inline_saga: InlineSaga) -> None:
    [user] = await quick_users(eco, 1)
    stale, fresh = await accepted_task(eco, user, **GLASS), await accepted_task(eco, user, **GLASS)
    timeout = timedelta(seconds=EcoSettings().scan_timeout_seconds)
    await backdate_scan(eco.database, stale, timeout + timedelta(seconds=1))
    await backdate_scan(eco.database, fresh, timeout - timedelta(seconds=30))

    await run_sweep(inline_saga)
    swept = await eco.task(user, stale)
    assert (swept["status"], swept["error"]) == ("failed", "timeout")
    assert (await eco.task(user, fresh))["status"] == "processing"
    expected = [events.ScanRequested.TYPE, events.ScanFailed.TYPE]
    assert await scan_events(eco.database, stale) == expected

    await run_sweep(inline_saga)
    await run_classify(inline_saga, stale)  # the lost job, delivered late: too late
    assert await eco.task(user, stale) == swept
    assert await scan_events(eco.database, stale) == expected
    assert await scan_events(eco.database, fresh) == [events.ScanRequested.TYPE]


# Read models


async def history(world: EcoWorld, user: EcoUser, **params: Any) -> dict[str, Any]:
    response = await world.client.get(f"{API}/scan/history", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_history_is_the_callers_newest_first_in_cursor_pages(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    user, other = await quick_users(eco, 2)
    texts = ["페트병", "종이 상자", "캔", "음식물", "유리병", "비닐봉지", "스티로폼"]
    requested = [await accepted_task(eco, user, user_input=text) for text in texts]
    requested.append(await failing_scan(eco, user))
    theirs = await accepted_task(eco, other, user_input="페트병")
    await inline_saga.settle()

    for limit in (1, 3, 8, 100):
        items = await all_pages(eco, user, "/scan/history", limit)
        assert [item["task_id"] for item in items] == requested[::-1], limit
    items = (await history(eco, user, limit=100))["items"]
    assert (await history(eco, user, limit=8))["next_cursor"] is None
    by_id = {item["task_id"]: item for item in items}
    plastic, food, failed = by_id[requested[0]], by_id[requested[3]], by_id[requested[-1]]
    assert (plastic["status"], plastic["category"]) == ("completed", "plastic")
    assert (plastic["reward_status"], plastic["character_name"]) == ("granted", "페티 Petty")
    assert (food["category"], food["reward_status"]) == ("food", "not_eligible")
    assert (failed["status"], failed["category"]) == ("failed", None)
    assert [item["task_id"] for item in (await history(eco, other))["items"]] == [theirs]
    bad = await eco.client.get(
        f"{API}/scan/history", params={"cursor": "garbage!"}, headers=user.headers
    )
    assert_error(bad, 422, "invalid_cursor")


async def test_stats_count_the_callers_scans(eco: EcoWorld, inline_saga: InlineSaga) -> None:
    [user] = await quick_users(eco, 1)
    empty = await eco.client.get(f"{API}/scan/stats", headers=user.headers)
    assert empty.json() == {}
    for _ in range(4):  # three plastic characters, then none left: compensated
        await accepted_task(eco, user, user_input="페트병")
    await accepted_task(eco, user, user_input="음식물")
    await failing_scan(eco, user)
    await inline_saga.settle()

    stats = await eco.client.get(f"{API}/scan/stats", headers=user.headers)
    assert stats.json() == {
        "requested": 6,
        "completed": 5,
        "failed": 1,
        "rewarded": 3,
        "compensated": 1,
        "category:plastic": 4,
        "category:food": 1,
    }
