"""Campaigns: scheduled to a future minute, delivered in that minute to exactly their segment
(promotional ones skip high-risk members), once however often the job runs, never once
cancelled; every write audited; bad input refused with nothing written."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.apps.casino.campaigns import service as campaigns
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.notifications.models import Notification
from ensemble.apps.casino.segments.domain import RfmGroup
from ensemble.apps.casino.tasks import campaign_send
from ensemble.kernel.db import utcnow
from ensemble.kernel.jobs.models import OutboxJob
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.scene import all_rows
from tests.apps.casino.test_segments_api import HIGH, place, quiz
from tests.outboxes import Outboxes

CAMPAIGNS = f"{API}/admin/campaigns"


@pytest.fixture
def outboxes(casino: CasinoWorld, redis: Redis) -> Outboxes:
    return Outboxes(casino.settings, casino.database, redis, [casino_app])


def next_minute(minutes: int = 2) -> str:
    at = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    return at.isoformat()


def campaign(segment: str = "WHALE", promotional: bool = True, **changes: Any) -> dict[str, Any]:
    return {"title": "Gems week", "body": "Double gems", "segment": segment,
            "promotional": promotional, "send_at": next_minute(), **changes}  # fmt: skip


async def inboxes(casino: CasinoWorld) -> dict[uuid.UUID, list[str]]:
    async with casino.database.sessionmaker() as session:
        rows = (await session.scalars(select(Notification).order_by(Notification.id))).all()
    found: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        found.setdefault(row.user_id, []).append(f"{row.category}:{row.title}")
    return found


async def schedule(casino: CasinoWorld, admin: Member, body: dict[str, Any]) -> dict[str, Any]:
    answer = await casino.client.post(CAMPAIGNS, json=body, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def deliver_at(casino: CasinoWorld, campaign_id: str, at: str, seconds: int) -> int | None:
    """The delivery job's work as it runs `seconds` after `at`."""
    now = datetime.fromisoformat(at) + timedelta(seconds=seconds)
    async with casino.database.unit_of_work() as session:
        return await campaigns.deliver(session, uuid.UUID(campaign_id), now=now)


async def test_a_campaign_reaches_its_segment_in_its_minute_once(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    whale, calm_whale, medium, fresh = [await casino.member() for _ in range(4)]
    for each in (whale, calm_whale):
        await place(casino, each, RfmGroup.WHALE)
    await place(casino, medium, RfmGroup.MEDIUM)
    taken = await casino.client.post(
        f"{API}/quiz/submit", json=quiz(HIGH), headers=calm_whale.headers
    )
    assert taken.status_code == 201
    created = await schedule(casino, admin, campaign())
    assert created["status"] == "scheduled"
    async with casino.database.sessionmaker() as session:
        job = await session.scalar(select(OutboxJob).where(OutboxJob.job == campaign_send.name))
    assert job is not None
    assert job.run_at.isoformat() == created["send_at"].replace("Z", "+00:00")

    assert await deliver_at(casino, created["campaign_id"], created["send_at"], -1) is None
    assert await inboxes(casino) == {}
    sent = await asyncio.gather(
        *(deliver_at(casino, created["campaign_id"], created["send_at"], 30) for _ in range(5))
    )
    assert sorted(sent, key=str) == [1, None, None, None, None]
    assert await inboxes(casino) == {whale.user_id: ["campaign:Gems week"]}
    one = await casino.client.get(f"{CAMPAIGNS}/{created['campaign_id']}", headers=admin.headers)
    assert (one.json()["status"], one.json()["recipients"]) == ("sent", 1)
    assert_error(
        await casino.client.post(f"{CAMPAIGNS}/{created['campaign_id']}/cancel",
                                 headers=admin.headers),
        409, "campaign_not_scheduled",
    )  # fmt: skip
    assert fresh.user_id not in await inboxes(casino)
    assert medium.user_id not in await inboxes(casino)


async def test_a_non_promotional_one_to_all_reaches_everyone(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    member = await casino.member()
    await casino.client.post(f"{API}/quiz/submit", json=quiz(HIGH), headers=member.headers)
    created = await schedule(casino, admin, campaign("all", promotional=False))
    assert await deliver_at(casino, created["campaign_id"], created["send_at"], 59) == 2
    assert set(await inboxes(casino)) == {admin.user_id, member.user_id}


async def test_a_cancelled_campaign_reaches_nobody_and_the_sweep_sends_due_ones(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    admin = await casino.member(Rank.ADMIN)
    cancelled = await schedule(casino, admin, campaign("all"))
    kept = await schedule(casino, admin, campaign("all", title="Kept"))
    answer = await casino.client.post(
        f"{CAMPAIGNS}/{cancelled['campaign_id']}/cancel", headers=admin.headers
    )
    assert answer.json()["status"] == "cancelled"
    async with casino.database.unit_of_work() as session:
        later = utcnow() + timedelta(minutes=3)
        assert await campaigns.deliver_due(session, now=later) == [uuid.UUID(kept["campaign_id"])]
    await outboxes.run(campaign_send, campaign_id=cancelled["campaign_id"])
    assert await inboxes(casino) == {admin.user_id: ["campaign:Kept"]}
    listed = await casino.client.get(CAMPAIGNS, params={"status": "cancelled"},
                                     headers=admin.headers)  # fmt: skip
    assert [each["campaign_id"] for each in listed.json()["items"]] == [cancelled["campaign_id"]]
    async with casino.database.sessionmaker() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["campaign.create", "campaign.create", "campaign.cancel"]


async def test_bad_campaigns_are_refused_and_write_nothing(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    before = await all_rows(casino.database)
    past = (utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)).isoformat()
    assert_error(await casino.client.post(CAMPAIGNS, json=campaign(send_at=past),
                                          headers=admin.headers), 422, "send_at_past")  # fmt: skip
    seconds = (utcnow().replace(second=30) + timedelta(minutes=5)).isoformat()
    for body in (campaign(send_at=seconds), campaign(segment="VIP"), campaign(title=""),
                 campaign(send_at="2099-01-01T00:00:00"), campaign(extra=1)):  # fmt: skip
        answer = await casino.client.post(CAMPAIGNS, json=body, headers=admin.headers)
        assert_error(answer, 422, "validation_error")
    missing = f"{CAMPAIGNS}/{uuid.uuid4()}"
    assert_error(await casino.client.get(missing, headers=admin.headers), 404,
                 "campaign_not_found")  # fmt: skip
    assert_error(await casino.client.post(f"{missing}/cancel", headers=admin.headers), 404,
                 "campaign_not_found")  # fmt: skip
    assert await all_rows(casino.database) == before
