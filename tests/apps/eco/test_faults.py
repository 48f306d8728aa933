"""Faults on the real stack: while sagas run, the relay, the consumer process or the worker
is SIGKILLed with work in its hands, sagas keep arriving while it is down, and it is
restarted. Every saga still ends in exactly one terminal state, no character is granted
twice, no event is lost, and nothing the dead process held stays behind."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.apps.eco import events
from ensemble.apps.eco.models import Scan
from ensemble.kernel.db import Database
from ensemble.kernel.events.bus import stream_name
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.models import OutboxEvent
from tests.apps.eco.conftest import (
    MAX_CHARACTERS,
    EcoUser,
    EcoWorld,
    all_settled,
    is_terminal_scan,
    quick_users,
)
from tests.polling import eventually
from tests.processes import Fleet, fleet

USERS = 30
PLANS = (
    ("페트병",),  # granted
    ("음식물", "종이 박스"),  # not eligible, granted
    ("유리병", "알루미늄 캔", "과자봉지", "스티로폼", "신문지"),  # 3 granted, 2 over the limit
    ("페트병", "플라스틱 컵"),  # two characters of one category
    ("일반쓰레기",),  # not eligible
)
STREAMS = [
    stream_name(kind) for kind in (events.IMAGE, events.SCAN, events.CHARACTER, events.PROFILE)
]
JOB_ACKS = "ensemble-jobs:__acks__.*"
"""The dramatiq Redis broker's sets of messages a worker took and has not acknowledged."""

Probe = Callable[[], Awaitable[int]]


def scan_plan(users: list[EcoUser]) -> list[tuple[EcoUser, str]]:
    """Each user's scans, interleaved across users (first scans first)."""
    plans = [(user, PLANS[i % len(PLANS)]) for i, user in enumerate(users)]
    depth = max(len(plan) for plan in PLANS)
    return [(user, plan[n]) for n in range(depth) for user, plan in plans if n < len(plan)]


async def submit(eco: EcoWorld, scans: list[tuple[EcoUser, str]]) -> None:
    accepted = await asyncio.gather(*(eco.classify(user, user_input=text) for user, text in scans))
    assert all(response.status_code == 202 for response in accepted)


async def settled_scans(database: Database) -> int:
    async with database.sessionmaker() as session:
        return sum(map(is_terminal_scan, await session.scalars(select(Scan))))


async def unsettled_scans(database: Database) -> int:
    async with database.sessionmaker() as session:
        return sum(not is_terminal_scan(scan) for scan in await session.scalars(select(Scan)))


async def unpublished(database: Database) -> int:
    async with database.sessionmaker() as session:
        stmt = select(func.count()).where(OutboxEvent.published_at.is_(None))
        return int(await session.scalar(stmt) or 0)


async def unacked_by(redis: Redis, pid: int) -> int:
    """Stream messages delivered to the consumer-group members of process `pid` and not
    acknowledged (member names carry the pid)."""
    held = 0
    for stream in STREAMS:
        if not await redis.exists(stream):  # no group has read it yet
            continue
        for group in await redis.xinfo_groups(stream):
            members = await redis.xinfo_consumers(stream, as_text(group["name"]))
            held += sum(m["pending"] for m in members if f"-{pid}-" in as_text(m["name"]))
    return held


async def job_acks(redis: Redis, ignore: set[str] | None = None) -> dict[str, int]:
    """Job messages taken by workers and not acknowledged, per ack set."""
    keys = [as_text(key) async for key in redis.scan_iter(match=JOB_ACKS)]
    sizes = [int(await redis.scard(key)) for key in keys]
    return {key: n for key, n in zip(keys, sizes, strict=True) if key not in (ignore or set())}


async def kill_in_flight(crew: Fleet, role: str, in_flight: Probe) -> int:
    """SIGKILL `role` at a moment it holds work: freeze it (SIGSTOP), look with `in_flight`,
    and thaw it to try again if it held none. Returns what it held when killed."""
    process = crew.processes[role]

    async def freeze_and_look() -> int:
        process.send_signal(signal.SIGSTOP)
        held = 0
        try:
            held = await in_flight()
        finally:
            if not held:
                process.send_signal(signal.SIGCONT)
        return held

    held = await eventually(freeze_and_look, bool, timeout=30, interval=0.02)
    crew.kill(role)
    return held


VICTIMS = ("relay", "consume", "worker")


async def test_killing_the_relay_a_consumer_and_a_worker_mid_saga_loses_and_doubles_nothing(
    eco: EcoWorld, process_env: dict[str, str], redis: Redis, tmp_path: Path
) -> None:
    users = await quick_users(eco, USERS)
    scans = scan_plan(users)
    waves = [scans[n :: len(VICTIMS) + 1] for n in range(len(VICTIMS) + 1)]
    stale_acks = set(await job_acks(redis))  # of workers killed before this test
    dead: dict[str, int] = {}
    dead_acks: set[str] = set()
    env = {**process_env, "JOBS_MAINTENANCE_CHANCE": "1000000"}  # requeue a dead worker's
    with fleet(env, logs=tmp_path) as crew:
        holds: dict[str, Probe] = {
            "relay": lambda: unpublished(eco.database),
            "consume": lambda: unacked_by(redis, crew.processes["consume"].pid),
            "worker": lambda: _sum(job_acks(redis, stale_acks)),
        }
        await submit(eco, waves[0])
        await eventually(lambda: settled_scans(eco.database), lambda n: n > 0, timeout=60)
        for victim, next_wave in zip(VICTIMS, waves[1:], strict=True):

            async def in_flight(victim: str = victim) -> int:
                """What the victim holds, while sagas are running."""
                running = await unsettled_scans(eco.database) > 0
                return await holds[victim]() if running else 0

            dead[victim] = crew.processes[victim].pid
            assert await kill_in_flight(crew, victim, in_flight) > 0
            if victim == "worker":
                dead_acks = set(await job_acks(redis, stale_acks))
            await submit(eco, next_wave)  # while it is down
            crew.start(victim)

        facts = await all_settled(eco.database, [user.user_id for user in users], within=120)
        left_behind: list[Probe] = [
            lambda: unpublished(eco.database),
            lambda: unacked_by(redis, dead["consume"]),
            lambda: _sum(_only(job_acks(redis), dead_acks)),
        ]
        for probe in left_behind:
            await eventually(probe, lambda n: n == 0, timeout=30)

    assert len(facts.scans) == len(scans)
    facts.check(MAX_CHARACTERS)
    outcomes = facts.outcomes()
    heavy = sum(len(PLANS[i % len(PLANS)]) == 5 for i in range(USERS))
    assert outcomes["failed:max_characters_reached"] == 2 * heavy
    assert set(outcomes) == {"granted", "not_eligible", "failed:max_characters_reached"}


async def _sum(sizes: Awaitable[dict[str, int]]) -> int:
    return sum((await sizes).values())


async def _only(sizes: Awaitable[dict[str, int]], keys: set[str]) -> dict[str, int]:
    return {key: n for key, n in (await sizes).items() if key in keys}
