"""The inbox's ids are gap-free per member, also under concurrency and rollbacks; the audit
log only ever grows."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications import service as notifications
from ensemble.apps.casino.notifications.models import Notification
from tests.apps.casino.conftest import CasinoWorld


class Refused(Exception):
    """The sender's transaction failed after it notified."""


async def ids_of(casino: CasinoWorld, member_id: object) -> list[int]:
    async with casino.database.sessionmaker() as session:
        found = await session.scalars(
            select(Notification.id).where(Notification.user_id == member_id).order_by("id")
        )
        return list(found)


async def test_concurrent_senders_to_one_member_take_ids_without_gaps(
    casino: CasinoWorld,
) -> None:
    member, other = await casino.member(), await casino.member()

    async def send(index: int) -> None:
        async with casino.database.unit_of_work() as session:
            await notifications.notify(
                session, member.user_id, NotificationCategory.SYSTEM, f"message {index}"
            )
            if index % 5 == 0:
                raise Refused  # rolled back: its id goes to a later message

    outcomes = await asyncio.gather(*(send(i) for i in range(50)), return_exceptions=True)
    refused = sum(isinstance(outcome, Refused) for outcome in outcomes)
    assert refused == 10
    assert await ids_of(casino, member.user_id) == list(range(1, 41))
    async with casino.database.unit_of_work() as session:
        first = await notifications.notify(
            session, other.user_id, NotificationCategory.WALLET, "hi"
        )
    assert first.id == 1  # numbered per member


async def test_the_audit_log_refuses_updates_and_deletes(casino: CasinoWorld) -> None:
    admin = await casino.member()
    async with casino.database.unit_of_work() as session:
        entry = await audit.record(
            session, admin.user_id, "reward.grant", "member", admin.user_id, {"amount": 5}
        )
    for change in (
        update(AuditEntry).where(AuditEntry.id == entry.id).values(action="nothing"),
        delete(AuditEntry).where(AuditEntry.id == entry.id),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with casino.database.unit_of_work() as session:
                await session.execute(change)
    async with casino.database.sessionmaker() as session:
        kept = await session.get(AuditEntry, entry.id)
    assert kept is not None
    assert (kept.action, kept.target_id, kept.details) == (
        "reward.grant",
        str(admin.user_id),
        {"amount": 5},
    )
