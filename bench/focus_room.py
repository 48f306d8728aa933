"""Focus Mate: 1,000 WebSocket participants in one room, on two server processes.

Everything runs on this machine: PostgreSQL, Redis, two `ensemble http` processes serving
Focus Mate alone (half the participants on each port), and `--client-processes` client
processes, each one event loop (uvloop) holding its share of the sockets (`websockets`).
Every clock is the machine's, so a server's `server_now` and a client's receive time compare
directly (the true clock offset is 0; clock sync still runs as a browser's would).

What is measured, each next to the floor measured in the same run: two processes of a bare
`websockets` server fanning out a raw Redis pub/sub channel to the same clients (a frame per
message, no auth, no database), plus raw asyncpg for the HTTP routes' statements.

- **join / storm**: every client opens its socket at once; settled when every client has its
  `room_state`, sees every member online, and no `participant_presence` came for one
  coalescing window. The storm closes all sockets at once and opens them again; its state
  check compares each new snapshot's timer with the last command's and its `seq` with the one
  the client had. Presence messages are counted per client.
- **transition**: the owner sends `--commands` timer commands (pause/resume pairs) one at a
  time, each once every socket heard the one before. A socket's latency is its receive time
  minus the message's `server_now`: the message is built in the command's after-commit
  callback, right after COMMIT returned and before the Redis publish, so `server_now` is
  the commit time (to within that callback). The floor's messages carry the time of their
  PUBLISH the same way.
- **displayed remaining**: every client syncs its clock (`--pings` pings, the median offset
  of the third with the shortest round trips) and computes `phase_ends_at - (now + offset)`
  at one agreed instant; spread = max - min, deviation = |value - median|.
- **commands and GET timer**: `Server-Timing` (server-side) and the client's round trip.

    python bench/focus_room.py                      # 1,000 participants
    python bench/focus_room.py --participants 200   # under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import asyncpg
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from common import (
    API,
    BENCH_SECRET,
    REPO_ROOT,
    Server,
    Stats,
    console,
    free_port,
    parser,
    positive,
    process_cpu_s,
    raw_dsn,
    report,
    run,
    start_postgres,
    start_redis,
    until_healthy,
    verdict,
)
from ensemble.apps.focus.auth import REALM
from ensemble.apps.focus.cli import SeedPlan, seed
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from ensemble.kernel.identity.principal import codec_for
from ensemble.settings import Settings
from lean_http import LeanClient, LeanResponse

TRANSITION_P99_MS = 100.0
SPREAD_P99_MS = 50.0
SETTLE_S = 5.0
COMMAND_P99_MS = 20.0
GET_P99_MS = 10.0
COALESCE_MS = 250  # FOCUS_PRESENCE_COALESCE_MS, passed to the servers
PASSWORD = "focus-bench-password"
FLOOR_CHANNEL = "bench:focus-floor"
REACH_TIMEOUT_S = 15.0
SETTLE_DEADLINE_S = 120.0
MAX_FRAME = 64 * 2**20  # a snapshot of thousands of participants


def epoch_ms(instant: str) -> float:
    """Milliseconds since the epoch of an ISO 8601 instant as the servers write them."""
    return datetime.fromisoformat(instant).timestamp() * 1000


def _ends_ms(timer: dict[str, Any]) -> float | None:
    ends = timer.get("phase_ends_at")
    return epoch_ms(ends) if ends else None


def iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


# The clients: each process holds some seats, each seat one participant's socket


@dataclass(eq=False)
class Seat:
    """One participant's socket and what its client knows of the room."""

    user_id: str
    url: str
    ws: ClientConnection | None = None
    seq: int = 0
    version: int = -1
    timer: dict[str, Any] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    presence_messages: int = 0
    gaps: int = 0
    offset_ms: float = 0.0
    pong: asyncio.Future[tuple[dict[str, Any], float]] | None = None


class Crowd:
    """A client process's seats, driven by the coordinator one call at a time."""

    def __init__(self, seats: list[Seat], members: int, compression: str | None) -> None:
        self.seats = seats
        self.members = members  # every participant of the room, in every process
        self.compression = compression
        self.recording: list[tuple[int, float, float]] | None = None
        self.target, self.reached = 0, 0
        self.reached_all = asyncio.Event()
        self.awaiting_snapshot: set[Seat] = set()
        self.incomplete: set[Seat] = set()  # seats that do not see every member present
        self.complete = asyncio.Event()
        self.last_snapshot = self.last_presence = 0.0
        self.readers: set[asyncio.Task[None]] = set()

    # Calls from the coordinator

    async def join(self) -> dict[str, Any]:
        """Open every socket at once; when presence has settled (see `_settle`)."""
        started = time.time()
        for seat in self.seats:
            seat.presence_messages = 0
        self._expect_snapshots()
        failures = await self._open_all()
        return {**await self._settle(started), "failures": failures}

    async def storm(self, version: int, phase_ends_at: str | None) -> dict[str, Any]:
        """Close every socket at once, open them all again; settle, then check the state."""
        seqs = {seat: seat.seq for seat in self.seats}
        started = time.time()
        for seat in self.seats:
            seat.presence_messages = 0
        await asyncio.gather(*(seat.ws.close() for seat in self.seats if seat.ws is not None))
        self._expect_snapshots()
        failures = await self._open_all()
        settled = await self._settle(started)
        lost = sum(
            seat.version != version
            or _ends_ms(seat.timer) != (epoch_ms(phase_ends_at) if phase_ends_at else None)
            or seat.seq < seqs[seat]
            for seat in self.seats
        )
        return {**settled, "failures": failures, "lost_state": lost}

    async def reach(self, version: int) -> int:
        """Wait until every seat has timer `version` (or the deadline); how many have it."""
        self.target = version
        self.reached = sum(seat.version >= version for seat in self.seats)
        self.reached_all = asyncio.Event()
        if self.reached == len(self.seats):
            self.reached_all.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REACH_TIMEOUT_S):
                await self.reached_all.wait()
        return self.reached

    async def record(self) -> None:
        self.recording = []

    async def recorded(self) -> list[tuple[int, float, float]]:
        """(version, received ms, server_now ms) of every timer message since `record`."""
        samples, self.recording = self.recording or [], None
        return samples

    async def sync_clocks(self, pings: int, interval_s: float) -> list[tuple[float, float]]:
        """Each seat estimates its offset; (offset ms, best round trip ms) per seat."""
        rng = random.Random(os.getpid())
        return await asyncio.gather(
            *(self._sync_clock(seat, pings, interval_s, rng.random()) for seat in self.seats)
        )

    async def displayed(self, at_ms: float) -> tuple[list[float], float]:
        """Every seat's displayed remaining ms at the instant `at_ms`, and how late this
        process read its clock for it (its values are moved back to the instant)."""
        await asyncio.sleep(max(0.0, at_ms / 1000 - time.time()))
        now = time.time() * 1000
        late = now - at_ms
        values = [
            epoch_ms(seat.timer["phase_ends_at"]) - (now + seat.offset_ms) + late
            for seat in self.seats
            if seat.timer.get("phase_ends_at")
        ]
        return values, late

    async def counts(self) -> dict[str, int]:
        return {"gaps": sum(seat.gaps for seat in self.seats)}

    async def close(self) -> None:
        await asyncio.gather(*(seat.ws.close() for seat in self.seats if seat.ws is not None))
        await asyncio.gather(*self.readers, return_exceptions=True)

    # Sockets

    def _expect_snapshots(self) -> None:
        self.awaiting_snapshot = set(self.seats)
        self.incomplete = set(self.seats)
        self.complete = asyncio.Event()

    async def _open_all(self) -> int:
        opened = await asyncio.gather(
            *(self._open(seat) for seat in self.seats), return_exceptions=True
        )
        failures = [result for result in opened if isinstance(result, BaseException)]
        for seat, result in zip(self.seats, opened, strict=True):
            if isinstance(result, BaseException):  # counted as failed, not waited for
                self.awaiting_snapshot.discard(seat)
                self._presence_known(seat)
        if failures:
            print(f"client {os.getpid()}: {len(failures)} sockets failed: {failures[0]!r}")
        return len(failures)

    async def _open(self, seat: Seat) -> None:
        seat.ws = await connect(
            seat.url,
            open_timeout=SETTLE_DEADLINE_S,
            compression=self.compression,
            max_size=MAX_FRAME,
        )
        reader = asyncio.create_task(self._read(seat, seat.ws))
        self.readers.add(reader)
        reader.add_done_callback(self.readers.discard)

    async def _read(self, seat: Seat, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                received = time.time()
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "room_state":
                    self._snapshot(seat, message, received)
                elif kind == "pong":
                    if seat.pong is not None and not seat.pong.done():
                        seat.pong.set_result((message, received * 1000))
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif isinstance(message.get("seq"), int):
                    await self._numbered(seat, ws, message, received)

    def _snapshot(self, seat: Seat, message: dict[str, Any], received: float) -> None:
        seat.seq = message["seq"]
        self._timer(seat, message["timer"], received, snapshot=True)
        seat.present = {
            p["user_id"] for p in message["participants"] if p.get("status") != "offline"
        }
        self.last_snapshot = max(self.last_snapshot, received)
        self.awaiting_snapshot.discard(seat)
        self._presence_known(seat)

    async def _numbered(
        self, seat: Seat, ws: ClientConnection, message: dict[str, Any], received: float
    ) -> None:
        """A numbered room message: applied if newer than the seat's `seq`; a gap asks for a
        snapshot (`sync`), as a real client does."""
        seq: int = message["seq"]
        if seq <= seat.seq:
            return
        if seq > seat.seq + 1:
            seat.gaps += 1
            await ws.send('{"type":"sync"}')
        seat.seq = seq
        if message["type"] == "participant_presence":
            for change in message["changes"]:
                if change["status"] == "offline":
                    seat.present.discard(change["user_id"])
                else:
                    seat.present.add(change["user_id"])
            seat.presence_messages += 1
            self.last_presence = max(self.last_presence, received)
            self._presence_known(seat)
        elif "phase_ends_at" in message:
            self._timer(seat, message, received, snapshot=False)

    def _timer(self, seat: Seat, timer: dict[str, Any], received: float, *, snapshot: bool) -> None:
        version: int = timer["version"]
        if version < seat.version or (version == seat.version and not snapshot):
            return
        before, seat.version, seat.timer = seat.version, version, timer
        if self.recording is not None and not snapshot:
            self.recording.append((version, received * 1000, epoch_ms(timer["server_now"])))
        if before < self.target <= version:
            self.reached += 1
            if self.reached == len(self.seats):
                self.reached_all.set()

    def _presence_known(self, seat: Seat) -> None:
        if len(seat.present) == self.members:
            self.incomplete.discard(seat)
        else:
            self.incomplete.add(seat)
        if not self.awaiting_snapshot and not self.incomplete:
            self.complete.set()
        else:
            self.complete.clear()

    async def _settle(self, started: float) -> dict[str, Any]:
        """Wait until every seat has its snapshot and sees every member present, and no
        presence message came for one coalescing window; the time that took from `started`
        (the last snapshot or presence message), and presence messages per seat."""
        window = COALESCE_MS / 1000
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        settled = True
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self.complete.wait()
            except TimeoutError:
                settled = False
                break
            quiet_for = time.time() - self.last_presence
            if quiet_for >= window and self.complete.is_set():
                break
            await asyncio.sleep(window - quiet_for if quiet_for < window else 0.01)
        last = max(self.last_snapshot, self.last_presence)
        return {
            "settled": settled,
            "seconds": last - started,
            "unsettled": len(self.awaiting_snapshot | self.incomplete),
            "presence_messages": [seat.presence_messages for seat in self.seats],
        }

    async def _sync_clock(
        self, seat: Seat, pings: int, interval_s: float, phase: float
    ) -> tuple[float, float]:
        """NTP-style: `pings` pings `interval_s` apart (starting at a random point of the
        first interval); the median offset of the third with the shortest round trips."""
        assert seat.ws is not None
        await asyncio.sleep(phase * interval_s)
        samples: list[tuple[float, float]] = []
        for _ in range(pings):
            seat.pong = asyncio.get_running_loop().create_future()
            t0 = time.time() * 1000
            await seat.ws.send(json.dumps({"type": "ping", "t0": t0}))
            async with asyncio.timeout(REACH_TIMEOUT_S):
                pong, t3 = await seat.pong
            t1, t2 = pong["t1"], pong["t2"]
            samples.append(((t3 - t0) - (t2 - t1), ((t1 - t0) + (t2 - t3)) / 2))
            await asyncio.sleep(interval_s)
        best = sorted(samples)[: max(1, len(samples) // 3)]
        seat.offset_ms = statistics.median(offset for _, offset in best)
        return seat.offset_ms, best[0][0]


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop

        uvloop.run(main)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main)


def client_process(
    pipe: Connection, seats: list[tuple[str, str]], members: int, compression: str | None
) -> None:
    """A client process: answers the coordinator's calls (`Crowd` methods) in order."""
    run_loop(_answer_calls(pipe, seats, members, compression))


async def _answer_calls(
    pipe: Connection, seats: list[tuple[str, str]], members: int, compression: str | None
) -> None:
    crowd = Crowd([Seat(user, url) for user, url in seats], members, compression)
    while True:
        name, args = await asyncio.to_thread(pipe.recv)
        pipe.send(await getattr(crowd, name)(*args))
        if name == "close":
            return


class Clients:
    """The coordinator's handle on the client processes."""

    def __init__(self, urls: Sequence[tuple[str, str]], options: argparse.Namespace) -> None:
        context = multiprocessing.get_context("spawn")
        processes = options.client_processes
        compression = None if options.compression == "none" else options.compression
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(processes):
            mine = [seat for i, seat in enumerate(urls) if (i // 2) % processes == index]
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_process,
                args=(theirs, mine, len(urls), compression),
                name=f"focus-bench-client-{index}",
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    async def call(self, name: str, *args: Any) -> list[Any]:
        """`Crowd.<name>(*args)` in every client process; their answers."""
        for pipe in self.pipes:
            pipe.send((name, args))
        return list(await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in self.pipes)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(30):
                await self.call("close")
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


# The floor: a bare websockets server on a raw Redis channel


def floor_process(port: int, redis_url: str, greeting: str, ready: Connection) -> None:
    run_loop(_floor(port, redis_url, greeting, ready))


async def _floor(port: int, redis_url: str, greeting: str, ready: Connection) -> None:
    """Each socket gets a snapshot (the room's participants, the last timer message), then
    every message of the channel; a `ping {t0}` is answered `pong {t0, t1, t2}`."""
    sockets: set[ServerConnection] = set()
    state: dict[str, Any] = json.loads(greeting)

    async def handler(ws: ServerConnection) -> None:
        sockets.add(ws)
        try:
            await ws.send(json.dumps(state))
            async for frame in ws:
                t1 = int(time.time() * 1000)
                message = json.loads(frame)
                if message.get("type") == "ping":
                    pong = {"type": "pong", "t0": message["t0"], "t1": t1}
                    await ws.send(json.dumps({**pong, "t2": int(time.time() * 1000)}))
        except ConnectionClosed:
            pass
        finally:
            sockets.discard(ws)

    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(FLOOR_CHANNEL)
    async with serve(handler, "127.0.0.1", port):
        ready.send(True)
        async for message in pubsub.listen():
            text = message["data"].decode()
            broadcast(sockets, text)
            timer = json.loads(text)
            state["seq"], state["timer"] = timer["seq"], timer


@contextlib.contextmanager
def floor_servers(
    redis_url: str, greeting: str, count: int
) -> Iterator[tuple[list[int], list[int]]]:
    """`count` floor processes; their ports and process ids."""
    context = multiprocessing.get_context("spawn")
    ports = [free_port() for _ in range(count)]
    processes = []
    try:
        for port in ports:
            ours, theirs = context.Pipe()
            process = context.Process(
                target=floor_process, args=(port, redis_url, greeting, theirs)
            )
            process.start()
            processes.append(process)
            if not ours.poll(60) or not ours.recv():
                raise RuntimeError("a floor server did not start")
        yield ports, [process.pid for process in processes if process.pid is not None]
    finally:
        for process in processes:
            process.terminate()
            process.join(timeout=5)


# Set-up: users, tokens, the room, the servers


@dataclass(frozen=True)
class Room:
    room_id: uuid.UUID
    owner: str  # token
    members: list[tuple[uuid.UUID, str]]  # (user id, token), owner first


async def seed_users(url: str, count: int) -> list[tuple[uuid.UUID, str]]:
    """`count` users through `ensemble focus seed`'s loader (one shared password); their
    ids and emails, in order."""
    connection = await asyncpg.connect(raw_dsn(url))
    try:
        started = time.perf_counter()
        plan = SeedPlan(users=count, rooms=0, history_days=0, password=PASSWORD)
        result = await seed(connection, plan, lambda _: None)
        run = result.first_email.split("-")[-1].split("@")[0]
        rows = await connection.fetch(
            "SELECT id, email FROM identity.accounts WHERE realm = $1 AND email LIKE $2",
            REALM,
            f"%-{run}@focus.example",
        )
        console.print(f"seeded {count:,} users in {time.perf_counter() - started:.1f} s")
        ordered = sorted(rows, key=lambda row: int(row["email"].split("-")[0][4:]))
        return [(row["id"], row["email"]) for row in ordered]
    finally:
        await connection.close()


def mint(user_id: uuid.UUID, email: str) -> str:
    """An access token as login issues it, signed with the kernel's token codec (login hashes
    argon2 per user: see `logins`)."""
    codec = codec_for(Settings(secret_key=BENCH_SECRET))
    return codec.encode(
        typ="access",
        realm=REALM,
        subject=user_id,
        jti=uuid.uuid4(),
        now=datetime.now(UTC),
        session_id=uuid.uuid4(),
        extra={"email": email, "role": "user"},
    )


async def logins(base_url: str, emails: Sequence[str]) -> float:
    """Log a few users in over HTTP; the mean ms per login."""
    started = time.perf_counter()
    async with LeanClient(base_url, {}, 1) as client:
        for email in emails:
            response = await client.post(
                f"{API}/auth/login", {"email": email, "password": PASSWORD}
            )
            if response.status_code != 200:
                raise RuntimeError(f"login: {response.status_code} {response.text}")
    return (time.perf_counter() - started) / len(emails) * 1000


async def make_room(
    base_url: str, pool: asyncpg.Pool, users: list[tuple[uuid.UUID, str]], name: str
) -> Room:
    """A room its first user creates over HTTP; the others are made members directly and
    `max_participants` raised to fit them."""
    tokens = [mint(user_id, email) for user_id, email in users]
    async with LeanClient(base_url, {"Authorization": f"Bearer {tokens[0]}"}, 1) as client:
        response = await client.post(f"{API}/rooms", {"name": name})
    if response.status_code != 201:
        raise RuntimeError(f"room: {response.status_code} {response.text}")
    room_id = uuid.UUID(response.json()["room_id"])
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO focus.room_members (room_id, user_id, joined_at)"
            " SELECT $1, unnest($2::uuid[]), now()",
            room_id,
            [user_id for user_id, _ in users[1:]],
        )
        await connection.execute(
            "UPDATE focus.rooms SET max_participants = $2, member_count = $2 WHERE id = $1",
            room_id,
            len(users),
        )
    members = [(user_id, token) for (user_id, _), token in zip(users, tokens, strict=True)]
    return Room(room_id, tokens[0], members)


def spawn_http(url: str, redis_url: str, options: argparse.Namespace, index: int) -> Server:
    """`ensemble http` serving Focus Mate alone on a port of its own (no background roles:
    nothing measured here waits on a job)."""
    port = free_port()
    log_path = options.data_dir / f"focus-http-{index}.log"
    log = log_path.open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BENCH_SECRET,
        "LOG_LEVEL": options.log_level,
        "SERVE_APP": "focus",
        "READY_ROLES": "[]",
        "DATA_DIR": str(options.data_dir / "server"),
        "FOCUS_PRESENCE_COALESCE_MS": str(COALESCE_MS),
    }
    command = [sys.executable, "-m", "ensemble", "http", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
    )
    return Server(process, f"http://127.0.0.1:{port}", log_path, log)


@contextlib.asynccontextmanager
async def http_servers(
    url: str, redis_url: str, options: argparse.Namespace
) -> AsyncIterator[list[Server]]:
    servers = [spawn_http(url, redis_url, options, i) for i in range(options.workers)]
    try:
        await asyncio.gather(*(until_healthy(s, f"server {i}") for i, s in enumerate(servers)))
        yield servers
    finally:
        for server in servers:
            server.stop()


def socket_urls(ports: Sequence[int], path: str, room: Room) -> list[tuple[str, str]]:
    """(user id, socket URL) of every member, alternating between the ports."""
    return [
        (str(user_id), f"ws://127.0.0.1:{ports[i % len(ports)]}{path}?token={token}")
        for i, (user_id, token) in enumerate(room.members)
    ]


def cpu_of(pids: Sequence[int]) -> float:
    return sum(process_cpu_s(pid) or 0.0 for pid in pids)


# The series


@dataclass
class Crowded:
    """One side's figures (ensemble or the floor)."""

    join: dict[str, Any] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    transition: list[float] = field(default_factory=list)
    transition_from_start: list[float] = field(default_factory=list)
    missed: int = 0
    offsets: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    displayed: list[float] = field(default_factory=list)
    late_ms: float = 0.0
    gaps: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # server ms per socket or transition
    client_cpu: dict[str, float] = field(default_factory=dict)  # the client processes'


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The client processes' settle answers as one."""
    return {
        "settled": all(p["settled"] for p in parts),
        "seconds": max(p["seconds"] for p in parts),
        "unsettled": sum(p["unsettled"] for p in parts),
        "failures": sum(p["failures"] for p in parts),
        "lost_state": sum(p.get("lost_state", 0) for p in parts),
        "presence_messages": [n for p in parts for n in p["presence_messages"]],
    }


async def transitions(
    clients: Clients,
    participants: int,
    send: Callable[[int], Coroutine[Any, Any, tuple[int, float]]],
    count: int,
    crowded: Crowded,
) -> None:
    """`count` transitions, one at a time, each once every socket heard the one before:
    `send(i)` makes one and answers (its version, the ms it started on the server's clock)."""
    await clients.call("record")
    started: dict[int, float] = {}
    for index in range(count):
        version, start_ms = await send(index)
        started[version] = start_ms
        reached = sum(await clients.call("reach", version))
        crowded.missed += participants - reached
    for part in await clients.call("recorded"):
        for version, received, server_now in part:
            crowded.transition.append(received - server_now)
            if version in started:
                crowded.transition_from_start.append(received - started[version])


async def clock_spread(clients: Clients, options: argparse.Namespace, crowded: Crowded) -> None:
    for part in await clients.call("sync_clocks", options.pings, options.ping_interval_ms / 1000):
        crowded.offsets += [offset for offset, _ in part]
        crowded.round_trips += [rtt for _, rtt in part]
    at = (time.time() + 0.5) * 1000
    for values, late in await clients.call("displayed", at):
        crowded.displayed += values
        crowded.late_ms = max(crowded.late_ms, late)


async def crowd_series(
    clients: Clients,
    participants: int,
    server_pids: list[int],
    send: Callable[[int], Coroutine[Any, Any, tuple[int, float]]],
    current: Callable[[], Coroutine[Any, Any, tuple[int, str | None]]],
    options: argparse.Namespace,
) -> Crowded:
    """Join, transitions, clock spread and the reconnect storm of one side, with the CPU
    each part used in the servers and in the client processes."""
    crowded = Crowded()
    await clients.call("counts")  # the client processes are up (their start is not counted)

    @contextlib.contextmanager
    def measured(part: str, per: int, status: str) -> Iterator[None]:
        servers, clients_before = cpu_of(server_pids), cpu_of(clients.pids)
        with console.status(status):
            yield
        crowded.cpu[part] = (cpu_of(server_pids) - servers) / per * 1000
        crowded.client_cpu[part] = (cpu_of(clients.pids) - clients_before) / per * 1000

    with measured("join", participants, f"{participants:,} sockets joining"):
        crowded.join = merge(await clients.call("join"))
    with measured("transition", options.commands, f"{options.commands} transitions"):
        await transitions(clients, participants, send, options.commands, crowded)
    with console.status("clock sync"):
        await clock_spread(clients, options, crowded)
    version, ends_at = await current()
    with measured("storm", participants, f"{participants:,} sockets reconnecting at once"):
        crowded.storm = merge(await clients.call("storm", version, ends_at))
    return crowded


async def floor_side(redis_url: str, room: Room, options: argparse.Namespace) -> Crowded:
    """The same clients against the floor: timer-like messages PUBLISHed to a raw channel."""
    now = time.time() * 1000
    ends_at = iso(now + 25 * 60 * 1000)
    timer = {"version": 0, "state": "running", "phase_ends_at": ends_at, "server_now": iso(now)}
    participants = [
        {"user_id": str(user_id), "display_name": f"member {i}", "status": "online",
         "joined_at": iso(now)}
        for i, (user_id, _) in enumerate(room.members)
    ]  # fmt: skip
    greeting = json.dumps(
        {"type": "room_state", "seq": 0, "timer": timer, "participants": participants}
    )
    redis = Redis.from_url(redis_url)
    sent_versions: list[int] = [0]

    async def send(index: int) -> tuple[int, float]:
        version = sent_versions[-1] + 1
        sent_versions.append(version)
        sent = time.time() * 1000
        message = {
            "type": "timer_paused" if index % 2 == 0 else "timer_resumed", "seq": version,
            "version": version, "state": "running", "phase_ends_at": ends_at,
            "server_now": iso(sent),
        }  # fmt: skip
        await redis.publish(FLOOR_CHANNEL, json.dumps(message))
        return version, sent

    async def current() -> tuple[int, str | None]:
        return sent_versions[-1], ends_at

    try:
        with floor_servers(redis_url, greeting, options.workers) as (ports, pids):
            clients = Clients(socket_urls(ports, "/", room), options)
            try:
                return await crowd_series(clients, len(room.members), pids, send, current, options)
            finally:
                await clients.close()
    finally:
        await redis.aclose()


async def ensemble_side(
    servers: list[Server], room: Room, options: argparse.Namespace, commands: list[Stats]
) -> Crowded:
    """The room on the ensemble servers; the owner drives the timer over HTTP."""
    ports = [int(server.base_url.rsplit(":", 1)[1]) for server in servers]
    headers = {"Authorization": f"Bearer {room.owner}"}
    base = f"{API}/rooms/{room.room_id}/timer"
    latest: dict[str, Any] = {}
    server_side: list[float] = []
    round_trips: list[float] = []

    async with Driver(servers[0].base_url, headers) as client:

        async def command(name: str) -> LeanResponse:
            started = time.perf_counter()
            response = await client.post(f"{base}/{name}")
            round_trips.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.text}")
            server_side.append(server_ms(response))
            latest.update(response.json())
            return response

        async def send(index: int) -> tuple[int, float]:
            body = (await command("pause" if index % 2 == 0 else "resume")).json()
            return body["version"], epoch_ms(body["server_now"])

        async def current() -> tuple[int, str | None]:
            return latest["version"], latest["phase_ends_at"]

        await command("start")
        server_side.clear()
        round_trips.clear()
        clients = Clients(socket_urls(ports, f"{API}/ws/rooms/{room.room_id}", room), options)
        try:
            pids = [server.process.pid for server in servers]
            crowded = await crowd_series(clients, len(room.members), pids, send, current, options)
            crowded.gaps = sum(part["gaps"] for part in await clients.call("counts"))
        finally:
            await clients.close()
    commands += [
        Stats("ensemble timer command (server)", server_side),
        Stats("ensemble timer command (round trip)", round_trips),
    ]
    return crowded


class Driver:
    """One keep-alive connection, opened again after an idle second (the server closes
    idle connections after a few seconds)."""

    IDLE_S = 1.0

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self._base_url, self._headers = base_url, headers
        self._client: LeanClient | None = None
        self._used = 0.0

    async def post(self, path: str) -> LeanResponse:
        if self._client is None or time.monotonic() - self._used > self.IDLE_S:
            await self.__aexit__()
            self._client = await LeanClient(self._base_url, self._headers, 1).__aenter__()
        response = await self._client.post(path, None)
        self._used = time.monotonic()
        return response

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._client is not None:
            await self._client.__aexit__()
            self._client = None


def server_ms(response: LeanResponse) -> float:
    header = response.headers.get("server-timing", "")
    return float(header.split("dur=", 1)[1].split(";")[0])


async def get_timer(
    servers: list[Server], room: Room, pool: asyncpg.Pool, options: argparse.Namespace
) -> list[Stats]:
    """`GET /rooms/{id}/timer` by members (server-side, round trip) next to raw asyncpg
    reading the same rows (the room, the timer)."""
    server_side: list[float] = []
    round_trips: list[float] = []
    path = f"{API}/rooms/{room.room_id}/timer"
    member = room.members[-1][1]
    async with LeanClient(servers[0].base_url, {"Authorization": f"Bearer {member}"}, 1) as c:
        for index in range(options.warmup + options.gets):
            started = time.perf_counter()
            response = await c.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET timer: {response.status_code} {response.text}")
            if index >= options.warmup:
                server_side.append(server_ms(response))
                round_trips.append(elapsed)
    raw: list[float] = []
    async with pool.acquire() as connection:
        for index in range(options.warmup + options.gets):
            started = time.perf_counter()
            async with connection.transaction():
                await connection.fetchrow("SELECT * FROM focus.rooms WHERE id = $1", room.room_id)
                await connection.fetchrow(
                    "SELECT * FROM focus.timers WHERE room_id = $1", room.room_id
                )
            if index >= options.warmup:
                raw.append((time.perf_counter() - started) * 1000)
    return [
        Stats("ensemble GET timer (server)", server_side),
        Stats("ensemble GET timer (round trip)", round_trips),
        Stats("baseline GET timer raw asyncpg", raw),
    ]


async def command_floor(pool: asyncpg.Pool, room: Room, redis_url: str, count: int) -> Stats:
    """A pause or resume by hand on a room of its own: the room, the caller's membership,
    the timer, the compare-and-set update, a resume's two job rows, then the numbered
    publish script (on a channel nobody hears)."""
    redis = Redis.from_url(redis_url)
    script = (
        "local n = redis.call('INCR', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return n"
    )
    samples: list[float] = []
    owner = room.members[0][0]
    try:
        for index in range(count):
            started = time.perf_counter()
            async with pool.acquire() as connection, connection.transaction():
                await connection.fetchrow("SELECT * FROM focus.rooms WHERE id = $1", room.room_id)
                await connection.fetchval(
                    "SELECT 1 FROM focus.room_members WHERE room_id = $1 AND user_id = $2",
                    room.room_id,
                    owner,
                )
                row = await connection.fetchrow(
                    "SELECT * FROM focus.timers WHERE room_id = $1", room.room_id
                )
                assert row is not None
                resume = index % 2 == 1
                ends = datetime.now(UTC) + timedelta(minutes=20)
                await connection.execute(
                    "UPDATE focus.timers SET state = $3::focus.timer_state, phase_ends_at = $4,"
                    " paused_remaining_ms = $5, version = version + 1, updated_at = now()"
                    " WHERE room_id = $1 AND version = $2",
                    room.room_id, row["version"], "running" if resume else "paused",
                    ends if resume else None, None if resume else 1_200_000,
                )  # fmt: skip
                if resume:
                    for job in ("focus.phase_end", "focus.phase_ending_soon"):
                        await connection.execute(
                            "INSERT INTO jobs.outbox (id, job, kwargs, run_at, created_at)"
                            " VALUES (gen_random_uuid(), $1, '{}', $2, now())",
                            job, ends,
                        )  # fmt: skip
            await redis.eval(script, 1, "bench:focus-floor-seq", "bench:nobody", "{}")
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await redis.aclose()
    return Stats("baseline command raw asyncpg + Redis", samples)


# Report


def deviations(values: Sequence[float]) -> list[float]:
    middle = statistics.median(values) if values else math.nan
    return [abs(value - middle) for value in values]


def print_crowds(ours: Crowded, floor: Crowded, participants: int) -> None:
    def per_member(side: dict[str, Any]) -> str:
        counts = side.get("presence_messages") or [0]
        return f"{statistics.mean(counts):.1f} (max {max(counts)})"

    def settle(side: dict[str, Any]) -> str:
        ok = "" if side.get("settled") else " [red]NOT SETTLED[/]"
        return f"{side.get('seconds', math.nan):.2f} s{ok}"

    console.print(f"\n[bold]{participants:,} participants[/]")
    for label, key in (("join (all at once)", "join"), ("reconnect storm", "storm")):
        a, b = getattr(ours, key), getattr(floor, key)
        console.print(
            f"{label}: ensemble settled in {settle(a)}, presence messages per member"
            f" {per_member(a)}, failed sockets {a['failures']}, lost state"
            f" {a.get('lost_state', 0)}; floor {settle(b)}, failed {b['failures']},"
            f" lost {b.get('lost_state', 0)}"
        )
    for label, key in (("join", "join"), ("transition", "transition"), ("storm", "storm")):
        unit = "per transition" if key == "transition" else "per socket"
        console.print(
            f"CPU {label}, {unit}: servers ensemble {ours.cpu[key]:.2f} ms, floor"
            f" {floor.cpu[key]:.2f} ms; client processes {ours.client_cpu[key]:.2f} ms,"
            f" {floor.client_cpu[key]:.2f} ms"
        )
    console.print(
        f"missed deliveries: ensemble {ours.missed}, floor {floor.missed};"
        f" seq gaps (each asked a sync) {ours.gaps}"
    )
    console.print(
        f"clock sampling: the client processes read the clock up to {ours.late_ms:.1f} ms"
        f" (floor {floor.late_ms:.1f} ms) after the instant; values are moved back to it"
    )


async def main(options: argparse.Namespace) -> int:
    options.data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(options.data_dir)
    redis_url, embedded_redis = start_redis(options.data_dir)
    database = Database(url, pool_size=1)
    await migrate(database.engine)
    await database.dispose()
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=2, max_size=2)
    assert pool is not None
    try:
        users = await seed_users(url, options.participants + 1)
        async with http_servers(url, redis_url, options) as servers:
            login_ms = await logins(servers[0].base_url, [e for _, e in users[: options.logins]])
            room = await make_room(servers[0].base_url, pool, users[:-1], "Bench room")
            spare = await make_room(servers[0].base_url, pool, users[-1:], "Bench floor room")
            console.print(
                f"login over HTTP: {login_ms:.0f} ms per user (argon2), so"
                f" {options.participants:,} logins would take"
                f" {login_ms * options.participants / 1000:.0f} s; the tokens are minted"
                " with the kernel's codec instead"
            )
            floor = await floor_side(redis_url, room, options)
            commands: list[Stats] = []
            ours = await ensemble_side(servers, room, options, commands)
            gets = await get_timer(servers, room, pool, options)
            command_base = await command_floor(pool, spare, redis_url, options.commands)
    finally:
        await pool.close()
        if embedded is not None and not options.keep_db:
            embedded.stop()
        if embedded_redis is not None and not options.keep_db:
            embedded_redis.stop()
    return conclude(options, ours, floor, commands, gets, command_base)


def conclude(
    options: argparse.Namespace,
    ours: Crowded,
    floor: Crowded,
    commands: list[Stats],
    gets: list[Stats],
    command_base: Stats,
) -> int:
    load = os.getloadavg()[0]
    transition = Stats("ensemble commit → socket", ours.transition)
    floor_transition = Stats("baseline PUBLISH → socket", floor.transition)
    console.print(
        "[dim]latency = a socket's receive time - the message's `server_now` (ensemble: built"
        " in the command's after-commit callback, after COMMIT, before the Redis publish; the"
        " floor: just before its PUBLISH); `command start → socket` counts from the POST's"
        " `server_now` instead, read before the command's SQL. One machine, one clock.[/]"
    )
    report(
        f"timer transition → every socket, {options.commands} transitions × "
        f"{options.participants:,} sockets",
        [
            transition,
            Stats("ensemble command start → socket", ours.transition_from_start),
            floor_transition,
        ],
        ratio=(transition, floor_transition),
    )
    spread = Stats("ensemble |displayed - median|", deviations(ours.displayed))
    floor_spread = Stats("baseline |displayed - median|", deviations(floor.displayed))
    report(
        "displayed remaining after clock sync (one instant)",
        [
            spread,
            Stats("ensemble |offset| (true offset 0)", [abs(o) for o in ours.offsets]),
            Stats("ensemble best ping round trip", ours.round_trips),
            floor_spread,
            Stats("baseline |offset|", [abs(o) for o in floor.offsets]),
        ],
        ratio=(spread, floor_spread),
    )
    width = max(ours.displayed) - min(ours.displayed) if ours.displayed else math.nan
    floor_width = max(floor.displayed) - min(floor.displayed) if floor.displayed else math.nan
    console.print(f"spread max - min: ensemble {width:.2f} ms, floor {floor_width:.2f} ms")
    report("timer command (pause/resume pairs) and GET timer", [*commands, command_base, *gets])
    print_crowds(ours, floor, options.participants)
    console.print(f"[dim]1-minute load average after the run: {load:.2f}[/]")
    passed = verdict("transition → every socket p99", transition.p(99), TRANSITION_P99_MS)
    passed &= verdict("displayed remaining, deviation p99", spread.p(99), SPREAD_P99_MS)
    passed &= verdict("reconnect storm settled", ours.storm["seconds"] * 1000, SETTLE_S * 1000)
    passed &= ours.storm["settled"] and not ours.storm["lost_state"]
    passed &= verdict("timer command p99 (server)", commands[0].p(99), COMMAND_P99_MS)
    passed &= verdict("GET timer p99 (server)", gets[0].p(99), GET_P99_MS)
    return 0 if passed else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "focus room", products=False)
    p.set_defaults(workers=2)
    p.add_argument("--participants", type=positive, default=1000, help="sockets in the room")
    p.add_argument("--client-processes", type=positive, default=2, help="client processes")
    p.add_argument("--commands", type=positive, default=200, help="measured timer commands")
    p.add_argument("--gets", type=positive, default=500, help="measured GET timer requests")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured GETs first")
    p.add_argument("--pings", type=positive, default=6, help="clock-sync pings per client")
    p.add_argument(
        "--ping-interval-ms", type=float, default=500.0, help="time between a client's pings"
    )
    p.add_argument("--logins", type=positive, default=3, help="users logged in over HTTP")
    p.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="permessage-deflate offered by the clients (browsers offer it)",
    )
    return p


if __name__ == "__main__":
    run(main, options_parser().parse_args())
