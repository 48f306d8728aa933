"""Arrival on the real stack: the API schedules, the scheduler relays, a worker process
completes — and killing that worker mid-run loses nothing and doubles nothing."""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ensemble.apps.b0.models import Room, RoomStay, Ticket, TicketStatus
from ensemble.settings import Settings
from tests.apps.b0.conftest import B0World
from tests.polling import eventually
from tests.processes import roles_env, running

TRAVELLERS = 40


@pytest.fixture
def process_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return roles_env(settings, tmp_path, JOBS_MAINTENANCE_CHANCE="1000000")


async def _status_counts(b0: B0World) -> dict[TicketStatus, int]:
    async with b0.database.unit_of_work() as session:
        rows = await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))
        return dict(rows.all())


async def test_ticket_completes_by_itself_at_arrival(
    b0: B0World, process_env: dict[str, str]
) -> None:
    city, airship = await b0.city(hours=1 / 3600), await b0.airship()  # a one-second flight
    traveller = await b0.traveller()
    ticket = (await b0.buy(traveller, city, airship)).json()
    with running("scheduler", process_env), running("worker", process_env):
        stay = await eventually(
            lambda: b0.client.get("/api/v1/room-stays/current", headers=traveller.headers),
            lambda r: r.status_code == 200,
            timeout=30,
        )
    assert stay.json()["ticket_id"] == ticket["ticket_id"]
    done = await b0.client.get(f"/api/v1/tickets/{ticket['ticket_id']}", headers=traveller.headers)
    assert done.json()["status"] == "COMPLETED"


async def _blocked_by(connection: AsyncConnection) -> int:
    """How many other sessions wait for a lock `connection` holds."""
    async with connection.engine.connect() as probe:
        blocked = await probe.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": await connection.scalar(text("SELECT pg_backend_pid()"))},
        )
        return int(blocked.scalar_one())


async def test_killing_the_worker_mid_run_loses_and_doubles_nothing(
    b0: B0World, process_env: dict[str, str]
) -> None:
    city, airship = await b0.city(hours=1 / 3600), await b0.airship()
    travellers = [await b0.traveller() for _ in range(TRAVELLERS)]
    for traveller in travellers:
        assert (await b0.buy(traveller, city, airship)).status_code == 201
    one_thread = {**process_env, "JOBS_WORKER_THREADS": "1"}
    with running("scheduler", process_env):
        # All but the first few tickets locked: the worker's one thread completes what it can
        # and then waits on a locked ticket, mid-job, when it is killed (no race with time).
        async with b0.database.engine.connect() as holder:
            unlucky = [t.user_id for t in travellers[3:]]
            await holder.execute(
                select(Ticket.id).where(Ticket.user_id.in_(unlucky)).with_for_update()
            )
            with running("worker", one_thread) as victim:
                await eventually(partial(_blocked_by, holder), lambda n: n > 0, timeout=60)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
            await holder.rollback()
        interrupted = await _status_counts(b0)
        with running("worker", process_env):
            counts = await eventually(
                lambda: _status_counts(b0),
                lambda c: c == {TicketStatus.COMPLETED: TRAVELLERS},
                timeout=60,
            )
    assert interrupted.get(TicketStatus.BOARDING, 0) >= TRAVELLERS - 3, "the kill came mid-run"
    async with b0.database.unit_of_work() as session:
        stays = (
            await session.execute(
                select(RoomStay.ticket_id, func.count()).group_by(RoomStay.ticket_id)
            )
        ).all()
        rooms = (await session.execute(select(Room))).scalars().all()
    assert counts == {TicketStatus.COMPLETED: TRAVELLERS}
    assert len(stays) == TRAVELLERS, "every ticket has a stay"
    assert all(n == 1 for _, n in stays), "exactly one stay per ticket"
    assert sum(r.current_occupancy for r in rooms) == TRAVELLERS
    assert all(r.current_occupancy <= r.capacity for r in rooms)
