"""`ensemble serve` supervises the background roles it starts: a role killed with SIGKILL is
missing from `/ready` (503 naming it) until it is back, it is back within seconds (a new
process with a live heartbeat), and the work asked for while it was dead completes once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from ensemble.kernel.db import Database
from ensemble.kernel.heartbeat import beat, heartbeat, live_members
from ensemble.kernel.supervisor import Child, Supervisor
from ensemble.settings import Settings
from tests.apicheck import free_port
from tests.apps.eco.conftest import MAX_CHARACTERS, EcoWorld, all_settled, quick_users
from tests.conftest import in_process_client
from tests.polling import eventually
from tests.processes import roles_env

ROLES = ("worker", "scheduler", "relay", "consume")


@pytest.fixture
def serve_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return roles_env(
        settings,
        tmp_path,
        HEARTBEAT_INTERVAL_SECONDS="0.2",
        HEARTBEAT_TTL_SECONDS="1",
        SUPERVISOR_BACKOFF_SECONDS="0.2",
        JOBS_MAINTENANCE_CHANCE="1000000",
        ECO_MAX_CHARACTERS=str(MAX_CHARACTERS),
    )


@contextmanager
def serving(env: dict[str, str], log: Path, *args: str) -> Iterator[tuple[str, int]]:
    """`ensemble serve [args]` (every app, every background role by default) on a free port:
    its base URL and pid."""
    port = free_port()
    command = [sys.executable, "-m", "ensemble", "serve", "--host", "127.0.0.1", *args]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


@asynccontextmanager
async def client_of(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the server once `/ready` answers 200 (every role beating)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await eventually(lambda: readiness(client), lambda r: r[0] == 200, timeout=120)
        yield client


async def readiness(client: httpx.AsyncClient) -> tuple[int, list[str]]:
    """`/ready`'s status and the roles it names as missing (0 while nothing listens)."""
    try:
        response = await client.get("/ready")
    except httpx.TransportError:
        return 0, []
    details: dict[str, Any] = response.json().get("error", {}).get("details", {})
    return response.status_code, details.get("missing_roles", [])


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


async def role_pids(redis: Redis, role: str, server: int) -> list[int]:
    """The pids of `role` with a live heartbeat that are children of the server process
    (other tests' processes may beat on the same Redis)."""
    members = (await live_members(redis, [role]))[role]
    pids = [int(member.rsplit(":", 1)[1]) for member in members]
    return [pid for pid in pids if parent_of(pid) == server]


async def outage(
    client: httpx.AsyncClient, redis: Redis, role: str, server: int, victim: int
) -> tuple[bool, bool]:
    """Whether `/ready` names `role` as missing, and whether a new `role` process beats."""
    named = role in (await readiness(client))[1]
    return named, any(pid != victim for pid in await role_pids(redis, role, server))


def replaced(victim: int, pids: list[int]) -> bool:
    return len(pids) == 1 and pids[0] != victim


def single(pids: list[int]) -> bool:
    return len(pids) == 1


async def test_serve_restarts_each_killed_role_and_its_work_completes_once(
    serve_env: dict[str, str], settings: Settings, database: Database, redis: Redis, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    named: list[str] = []
    with serving(serve_env, log) as (base_url, server):
        async with (
            client_of(base_url) as client,
            httpx.AsyncClient(base_url=f"{base_url}/eco", timeout=30) as eco_client,
        ):
            world = EcoWorld(settings, database, eco_client)
            users = await quick_users(world, len(ROLES))
            for role, user in zip(ROLES, users, strict=True):
                [victim] = await eventually(partial(role_pids, redis, role, server), single)
                os.kill(victim, signal.SIGKILL)
                asked = await world.classify(user, user_input="다 마신 페트병")
                assert asked.status_code == 202, asked.text
                seen = await eventually(partial(outage, client, redis, role, server, victim), any)
                named += [role] if seen[0] else []
                await eventually(
                    partial(role_pids, redis, role, server), partial(replaced, victim), timeout=60
                )
                await eventually(partial(readiness, client), lambda r: r[0] == 200)
            facts = await all_settled(database, [user.user_id for user in users], within=90)
    facts.check(MAX_CHARACTERS)
    assert named, "/ready named no killed role as missing"
    assert sorted(facts.outcomes().elements()) == ["granted"] * len(ROLES)
    logged = log.read_text(errors="replace")
    assert logged.count("exited with -9; restarting it in") == len(ROLES), logged[-3000:]
    for role in ROLES:
        assert f"{role} restarted as pid" in logged


async def test_ready_names_each_expected_role_without_a_live_heartbeat(
    settings: Settings, database: Database, redis_url: str
) -> None:
    worker, relay = (f"role-{uuid.uuid4().hex[:8]}" for _ in range(2))
    expecting = settings.model_copy(
        update={"ready_roles": [worker, relay], "heartbeat_interval_seconds": 0.05}
    )
    async with in_process_client(expecting, database) as client:
        assert await readiness(client) == (503, [worker, relay])
        with SyncRedis.from_url(redis_url) as sync_redis:
            beat(sync_redis, worker, ttl=60)
        assert await readiness(client) == (503, [relay])
        with heartbeat(expecting, relay):
            assert await readiness(client) == (200, [])
        assert await readiness(client) == (503, [relay]), "a stopped role's entry is removed"
    async with in_process_client(settings, database) as client:
        assert await readiness(client) == (200, []), "no roles expected: none checked"


def exiting(code: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])


def test_a_role_that_keeps_dying_is_restarted_with_exponential_backoff() -> None:
    spawned: list[str] = []

    def spawn(role: str) -> subprocess.Popen[bytes]:
        spawned.append(role)
        return exiting(3)

    supervisor = Supervisor(["worker"], spawn, backoff=1.0, max_backoff=4.0, stable_after=60.0)
    child = Child("worker", spawn("worker"), started=0.0)
    delays = []
    now = 0.0
    for _ in range(5):
        child.process.wait()
        supervisor.check(child, now)  # notices the exit, schedules the restart
        assert child.restart_at is not None
        delays.append(child.restart_at - now)
        now = child.restart_at
        supervisor.check(child, now)  # restarts it
        assert child.restart_at is None
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(spawned) == 6
    child.process.wait()
    supervisor.check(child, now + 61)  # it had run long enough: back to the first delay
    assert child.restart_at == now + 61 + 1.0


def http_children(server: int) -> list[int]:
    """The pids of `serve`'s HTTP processes (`ensemble http`), started by any of its threads
    (the supervisor's thread starts the restarted ones)."""
    tasks = Path(f"/proc/{server}/task").iterdir()
    children = [pid for task in tasks for pid in (task / "children").read_text().split()]
    return [
        int(pid) for pid in children if b"\x00http\x00" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def sockets_of(pid: int) -> int:
    return sum(
        1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:")
    )


async def test_serve_workers_share_the_connections_and_survive_a_killed_one(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    """`serve --workers 2`: each HTTP process listens on a socket of its own (SO_REUSEPORT),
    so new connections spread over both; one killed is restarted while the other serves."""
    with serving(serve_env, tmp_path / "serve.log", "--workers", "2", "--no-background") as (
        base_url,
        server,
    ):
        async with client_of(base_url):
            workers = await eventually(lambda: _answer(http_children(server)), _two)
            before = {pid: sockets_of(pid) for pid in workers}
            clients = [httpx.AsyncClient(base_url=base_url, timeout=30) for _ in range(16)]
            try:
                answers = await asyncio.gather(*(client.get("/health") for client in clients))
                assert {answer.status_code for answer in answers} == {200}
                accepted = {pid: sockets_of(pid) - before[pid] for pid in workers}
                assert all(count > 0 for count in accepted.values()), accepted
            finally:
                for client in clients:
                    await client.aclose()

            os.kill(workers[0], signal.SIGKILL)
            # until it is dead, its listening socket may still take a connection and reset it
            await eventually(lambda: asyncio.to_thread(_is_dead, workers[0]), bool)
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                for _ in range(8):  # fresh connections: each lands on a live process
                    assert (await client.get("/health", headers=CLOSE)).status_code == 200
            restarted = await eventually(
                lambda: _answer(http_children(server)),
                lambda pids: len(pids) == 2 and workers[0] not in pids,
                timeout=60,
            )
            assert workers[1] in restarted


CLOSE = {"Connection": "close"}


async def _answer(value: list[int]) -> list[int]:
    return value


def _is_dead(pid: int) -> bool:
    """Gone, or a zombie (its sockets closed) waiting for its parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _two(pids: list[int]) -> bool:
    return len(pids) == 2
