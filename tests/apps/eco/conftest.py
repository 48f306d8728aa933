"""ECO² fixtures: the app served alone, users and admins, and the saga's background roles
(worker, scheduler, relay, consumers) as real processes."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from ensemble.apps.eco import app as eco_app
from ensemble.apps.eco import models as eco_models
from ensemble.apps.eco import service
from ensemble.apps.eco.models import Role
from ensemble.kernel.db import Database
from ensemble.kernel.modules import AppModule
from ensemble.settings import Settings
from tests.apicheck import (
    Server,
    SignedIn,
    assert_error_shape,
    bearer,
    log_in,
    serve,
    snapshot,
    tables_of,
)
from tests.conftest import in_process_client
from tests.polling import eventually
from tests.processes import roles_env, running

API = "/api/v1"
PASSWORD = "correct horse battery"
MAX_CHARACTERS = 3
"""The processes' `ECO_MAX_CHARACTERS`: small, so the compensation path is easy to reach."""


@pytest.fixture
def apps_written() -> list[AppModule]:
    """ECO²'s tests write ECO²'s tables (and the kernel's) alone."""
    return [eco_app]


@pytest.fixture
async def eco_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    """ECO² served alone (the spec's exact paths), with its hub and Redis client."""
    async with in_process_client(settings, database, "eco") as client:
        yield client


EcoUser = SignedIn


@dataclass
class EcoWorld:
    settings: Settings
    database: Database
    client: AsyncClient
    users: list[EcoUser] = field(default_factory=list)

    async def user(self, role: Role = Role.USER) -> EcoUser:
        """A signed-up, logged-in user (an admin is created as the CLI does)."""
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        if role is Role.ADMIN:
            async with self.database.unit_of_work() as session:
                await service.sign_up(session, email=email, password=PASSWORD, role=role)
        else:
            signed = await self.client.post(
                f"{API}/auth/signup", json={"email": email, "password": PASSWORD}
            )
            assert signed.status_code == 201, signed.text
        tokens = await self.login(email)
        me = await self.client.get(f"{API}/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200, me.text
        user = EcoUser(
            uuid.UUID(me.json()["user_id"]),
            email,
            tokens["access_token"],
            tokens["refresh_token"],
        )
        self.users.append(user)
        return user

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        return await log_in(self.client, API, email, password)

    async def classify(
        self, user: EcoUser, *, key: str | None = None, **body: Any
    ) -> httpx.Response:
        headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
        return await self.client.post(f"{API}/scan/classify", json=body, headers=headers)

    async def task(self, user: EcoUser, task_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{API}/scan/tasks/{task_id}", headers=user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def settled(
        self,
        user: EcoUser,
        task_id: str,
        timeout: float = 30,  # noqa: ASYNC109 - a deadline, not a cancellation scope
    ) -> dict[str, Any]:
        """The task once its saga reached a terminal state (failed, or a settled reward)."""
        return await eventually(
            lambda: self.task(user, task_id), is_terminal, timeout=timeout, interval=0.1
        )


def is_terminal(task: dict[str, Any]) -> bool:
    if task["status"] == "failed":
        return True
    reward = task.get("reward") or {}
    return task["status"] == "completed" and reward.get("status") != "pending"


@pytest.fixture
async def eco(settings: Settings, database: Database, eco_client: AsyncClient) -> EcoWorld:
    return EcoWorld(settings, database, eco_client)


# The background roles as processes


@pytest.fixture(scope="session")
def process_env(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("eco-processes")
    return roles_env(settings, data_dir, ECO_MAX_CHARACTERS=str(MAX_CHARACTERS))


@pytest.fixture
def saga_processes(process_env: dict[str, str]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Worker, scheduler, relay and consumers running for one test."""
    with (
        running("worker", process_env) as worker,
        running("scheduler", process_env) as scheduler,
        running("relay", process_env) as relay,
        running("consume", process_env) as consume,
    ):
        yield {"worker": worker, "scheduler": scheduler, "relay": relay, "consume": consume}


# Shared by the auth, image, auth-matrix and bad-input tests: photo uploads through the
# presigned URL, a snapshot of everything ECO² can write, and ECO² served as a real process.

from datetime import datetime  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

PHOTO = b"\xff\xd8\xff\xe0 a photo of a bottle \xff\xd9"


async def eco_rows(database: Database) -> dict[str, list[str]]:
    """Every row ECO² can write (its schemas, accounts, events, jobs): equal snapshots mean
    nothing was written."""
    return await snapshot(
        database, await tables_of(database, *eco_app.schemas, "identity", "events", "jobs")
    )


def local_path(url: str) -> str:
    """An absolute URL as the in-process client calls it: path and query, no scheme or host."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass(frozen=True)
class Presigned:
    upload_id: str
    path: str  # the signed upload URL without scheme and host
    headers: dict[str, str]
    expires_at: datetime


async def presign(
    world: EcoWorld,
    user: EcoUser,
    *,
    size: int = len(PHOTO),
    content_type: str = "image/jpeg",
    filename: str | None = "pet_bottle.jpg",
) -> Presigned:
    """A presigned upload of the user's (asserting the 201)."""
    body: dict[str, Any] = {"content_type": content_type, "size": size}
    if filename is not None:
        body["filename"] = filename
    response = await world.client.post(
        f"{API}/images/presigned-url", json=body, headers=user.headers
    )
    assert response.status_code == 201, response.text
    found = response.json()
    return Presigned(
        upload_id=found["upload_id"],
        path=local_path(found["upload_url"]),
        headers=found["headers"],
        expires_at=datetime.fromisoformat(found["expires_at"]),
    )


async def put_bytes(
    world: EcoWorld,
    upload: Presigned,
    data: bytes = PHOTO,
    *,
    path: str | None = None,
    content_type: str | None = None,
) -> httpx.Response:
    """PUT `data` to the signed URL (or `path`) with its headers (or another Content-Type)."""
    headers = {**upload.headers, **({"Content-Type": content_type} if content_type else {})}
    return await world.client.put(path or upload.path, content=data, headers=headers)


async def register(world: EcoWorld, user: EcoUser, **body: str) -> httpx.Response:
    return await world.client.post(f"{API}/images/register", json=body, headers=user.headers)


async def uploaded_image(
    world: EcoWorld, user: EcoUser, filename: str = "pet_bottle.jpg"
) -> tuple[Presigned, dict[str, Any]]:
    """A photo presigned, uploaded and registered: its upload and the image."""
    upload = await presign(world, user, filename=filename)
    put = await put_bytes(world, upload)
    assert put.status_code == 204, put.text
    registered = await register(world, user, upload_id=upload.upload_id)
    assert registered.status_code == 201, registered.text
    image: dict[str, Any] = registered.json()
    return upload, image


@pytest.fixture(scope="session")
def eco_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`ensemble serve --app eco` on the test database and Redis (started once, if asked for)."""
    with serve("eco", database_url, redis_url, tmp_path_factory.mktemp("eco-server")) as server:
        yield server


# Shared by the scan, characters, read-model, location and chat tests: the saga's background
# work run step by step in this process, a clean slate of read models, and the admin CLI.

from datetime import timedelta  # noqa: E402

from sqlalchemy import select, update  # noqa: E402

from ensemble.apps.eco.settings import EcoSettings  # noqa: E402
from tests.outboxes import Outboxes  # noqa: E402

READ_MODEL_KEYS = "rm:eco.*"


async def reset_read_models(redis: Redis) -> None:
    """Delete every ECO² read-model key. Redis outlives the tables truncated after each
    test, so a test that looks at read models across users starts from none."""
    keys = [key async for key in redis.scan_iter(match=READ_MODEL_KEYS, count=1000)]
    if keys:
        await redis.unlink(*keys)


@dataclass
class InlineSaga(Outboxes):
    """ECO²'s background work run in this process until nothing is left (`Outboxes`)."""

    modules: Sequence[AppModule] = (eco_app,)

    async def scan(self, world: EcoWorld, user: EcoUser, **body: Any) -> dict[str, Any]:
        """A scan requested over HTTP and its saga run to the end: the settled task."""
        accepted = await world.classify(user, **body)
        assert accepted.status_code == 202, accepted.text
        await self.settle()
        task = await world.task(user, accepted.json()["task_id"])
        assert is_terminal(task), task
        return task


@pytest.fixture
def inline_saga(settings: Settings, database: Database, redis: Redis) -> InlineSaga:
    return InlineSaga(settings, database, redis)


async def log_out(world: EcoWorld, access_token: str, refresh_token: str) -> httpx.Response:
    return await world.client.post(
        f"{API}/auth/logout", json={"refresh_token": refresh_token}, headers=bearer(access_token)
    )


# Shared by the saga, fault and tracing tests: what the sagas of some users left behind,
# with the rules it must satisfy.

from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Iterable  # noqa: E402

from sqlalchemy import and_, or_  # noqa: E402

from ensemble.apps.eco import events  # noqa: E402
from ensemble.apps.eco.models import (  # noqa: E402
    Notification,
    Profile,
    RewardStatus,
    Scan,
    ScanStatus,
)
from ensemble.kernel.events.models import StoredEvent  # noqa: E402

DECISIONS = (events.CharacterAcquired.TYPE, events.CharacterAcquireFailed.TYPE)
SETTLEMENTS = (events.ScanRewardGranted.TYPE, events.ScanRewardCompensated.TYPE)
TERMINAL_REWARDS = (RewardStatus.GRANTED, RewardStatus.FAILED, RewardStatus.NOT_ELIGIBLE)
NOTIFIED = {
    events.CharacterAcquired.TYPE: "character_acquired",
    events.ScanRewardCompensated.TYPE: "reward_failed",
    events.ScanFailed.TYPE: "scan_failed",
}
"""The kind of notification each outcome's event leads to (a grant through its
`ProfileUpdated`)."""


@dataclass(frozen=True)
class SagaFacts:
    """The scans of some users, every stored event of their sagas, their profiles and their
    notifications."""

    scans: dict[str, Scan]
    events: list[StoredEvent]
    profiles: list[Profile]
    notifications: list[Notification]

    def of_type(self, *types: str) -> list[StoredEvent]:
        return [event for event in self.events if event.type in types]

    def by_scan(self, *types: str) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in self.of_type(*types):
            found[str(event.payload["scan_id"])].append(event)
        return found

    def per_user(self, *types: str) -> Counter[str]:
        return Counter(str(event.payload["user_id"]) for event in self.of_type(*types))

    def unsettled(self) -> list[Scan]:
        return [scan for scan in self.scans.values() if not is_terminal_scan(scan)]

    def outcomes(self) -> Counter[str]:
        """How the scans ended: `failed`, or the reward (`failed:<reason>` if refused)."""
        return Counter(outcome(scan) for scan in self.scans.values())

    def profile_totals(self) -> dict[str, tuple[int, int]]:
        return {
            str(found.user_id): (found.total_scans, found.total_characters)
            for found in self.profiles
            if found.total_scans or found.total_characters
        }

    def expected_profile_totals(self) -> dict[str, tuple[int, int]]:
        """Per user: one scan per `ScanCompleted`, one character per `CharacterAcquired`."""
        scans = self.per_user(events.ScanCompleted.TYPE)
        owned = self.per_user(events.CharacterAcquired.TYPE)
        return {user: (scans[user], owned[user]) for user in scans | owned}

    def notified(self) -> Counter[tuple[str, str]]:
        return Counter((str(n.user_id), n.kind) for n in self.notifications)

    def expected_notifications(self) -> Counter[tuple[str, str]]:
        """Per user and kind: one notification per grant, compensation and failed scan."""
        expected: Counter[tuple[str, str]] = Counter()
        for type_, kind in NOTIFIED.items():
            expected.update({(user, kind): n for user, n in self.per_user(type_).items()})
        return expected

    def quiescent(self) -> bool:
        """Every saga reached its end, down to the last hops (stats, notifications)."""
        return (
            not self.unsettled()
            and self.profile_totals() == self.expected_profile_totals()
            and self.notified() == self.expected_notifications()
        )

    def check(self, max_characters: int) -> None:
        """Assert every rule of the saga on these facts."""
        assert not self.unsettled(), f"sagas not in a terminal state: {self.unsettled()}"
        self._check_granted_once(max_characters)
        for scan_id, scan in self.scans.items():
            self._check_scan(scan_id, scan)
        assert self.profile_totals() == self.expected_profile_totals()
        assert self.notified() == self.expected_notifications()

    def _check_granted_once(self, max_characters: int) -> None:
        acquired = self.of_type(events.CharacterAcquired.TYPE)
        pairs = Counter((e.aggregate_id, e.payload["character_code"]) for e in acquired)
        assert max(pairs.values(), default=1) == 1, f"a character granted twice: {pairs}"
        owned = Counter(e.aggregate_id for e in acquired)
        assert max(owned.values(), default=0) <= max_characters, f"over the limit: {owned}"

    def _check_scan(self, scan_id: str, scan: Scan) -> None:
        """One `ScanCompleted` (or `ScanFailed`); if eligible, exactly one decision, mirrored
        on the scan by exactly one settlement event; otherwise neither."""
        completed = self.by_scan(events.ScanCompleted.TYPE)[scan_id]
        failed = self.by_scan(events.ScanFailed.TYPE)[scan_id]
        decided = self.by_scan(*DECISIONS)[scan_id]
        settled = self.by_scan(*SETTLEMENTS)[scan_id]
        if scan.status is ScanStatus.FAILED:
            assert (len(failed), completed, decided) == (1, [], []), scan_id
            return
        assert (len(completed), failed) == (1, []), scan_id
        if not completed[0].payload["reward_eligible"]:
            assert scan.reward_status is RewardStatus.NOT_ELIGIBLE, scan_id
            assert (decided, settled) == ([], []), scan_id
            return
        assert (len(decided), len(settled)) == (1, 1), f"{scan_id}: {decided} {settled}"
        [decision], [settlement] = decided, settled
        if decision.type == events.CharacterAcquired.TYPE:
            assert settlement.type == events.ScanRewardGranted.TYPE, scan_id
            assert scan.reward_status is RewardStatus.GRANTED, scan_id
            assert scan.reward_character is not None, scan_id
            assert scan.reward_character["code"] == decision.payload["character_code"]
        else:
            assert settlement.type == events.ScanRewardCompensated.TYPE, scan_id
            assert scan.reward_status is RewardStatus.FAILED, scan_id
            assert scan.reward_reason == decision.payload["reason"], scan_id
            assert settlement.payload["compensation_reason"] == decision.payload["reason"]


def is_terminal_scan(scan: Scan) -> bool:
    if scan.status is ScanStatus.FAILED:
        return True
    return scan.status is ScanStatus.COMPLETED and scan.reward_status in TERMINAL_REWARDS


def outcome(scan: Scan) -> str:
    if scan.status is not ScanStatus.COMPLETED or scan.reward_status is None:
        return scan.status.value
    if scan.reward_status is RewardStatus.FAILED:
        return f"failed:{scan.reward_reason}"
    return scan.reward_status.value


async def saga_facts(database: Database, user_ids: Iterable[uuid.UUID]) -> SagaFacts:
    users = list(user_ids)
    async with database.sessionmaker() as session:
        scans = {
            str(scan.id): scan
            for scan in await session.scalars(select(Scan).where(Scan.user_id.in_(users)))
        }
        streams = or_(
            and_(StoredEvent.aggregate_type == events.SCAN, StoredEvent.aggregate_id.in_(scans)),
            and_(
                StoredEvent.aggregate_type == events.CHARACTER,
                StoredEvent.aggregate_id.in_([str(user) for user in users]),
            ),
        )
        stored = await session.scalars(select(StoredEvent).where(streams))
        profiles = await session.scalars(select(Profile).where(Profile.user_id.in_(users)))
        told = await session.scalars(select(Notification).where(Notification.user_id.in_(users)))
        return SagaFacts(scans, list(stored), list(profiles), list(told))


async def all_settled(
    database: Database, user_ids: Iterable[uuid.UUID], within: float = 60
) -> SagaFacts:
    """The facts once every saga of these users has run to its last hop."""
    users = list(user_ids)
    return await eventually(
        lambda: saga_facts(database, users), SagaFacts.quiescent, timeout=within, interval=0.2
    )


from ensemble.apps.eco.auth import REALM  # noqa: E402
from ensemble.apps.eco.models import User  # noqa: E402
from ensemble.kernel.db import new_id, utcnow  # noqa: E402
from ensemble.kernel.identity.models import Account, RefreshToken  # noqa: E402
from ensemble.kernel.identity.passwords import hash_password  # noqa: E402
from ensemble.kernel.identity.principal import codec_for  # noqa: E402


async def quick_users(world: EcoWorld, count: int) -> list[EcoUser]:
    """`count` users with the rows sign-up and login write and tokens from the app's codec,
    sharing one password hash: many users without an argon2 hash each (seconds apiece on a
    busy machine)."""
    codec, now = codec_for(world.settings), utcnow()
    password_hash = await hash_password(PASSWORD)
    made: list[EcoUser] = []
    async with world.database.unit_of_work() as session:
        for _ in range(count):
            account = Account(
                id=new_id(),
                realm=REALM,
                email=f"{uuid.uuid4().hex[:12]}@example.com",
                password_hash=password_hash,
                is_active=True,
                created_at=now,
            )
            refresh = RefreshToken(
                jti=new_id(),
                family_id=new_id(),
                account_id=account.id,
                issued_at=now,
                expires_at=now + codec.refresh_ttl,
            )
            session.add_all([account, User(account_id=account.id, role=Role.USER), refresh])
            extra = {"email": account.email, "role": Role.USER.value}
            access = codec.encode(
                typ="access",
                realm=REALM,
                subject=account.id,
                jti=new_id(),
                now=now,
                session_id=refresh.family_id,
                extra=extra,
            )
            refresh_token = codec.encode(
                typ="refresh", realm=REALM, subject=account.id, jti=refresh.jti, now=now
            )
            made.append(EcoUser(account.id, account.email, access, refresh_token))
    world.users.extend(made)
    return made


async def backdate_scan(database: Database, task_id: str, by: timedelta) -> None:
    """Move a scan's creation back by `by` (to reach its image wait or the sweep's timeout)."""
    async with database.unit_of_work() as session:
        scans = eco_models.Scan
        earlier = update(scans).values(created_at=scans.created_at - by)
        await session.execute(earlier.where(scans.id == uuid.UUID(task_id)))


def image_wait() -> timedelta:
    """How long a scan waits for its image (`ECO_IMAGE_WAIT_SECONDS`)."""
    return timedelta(seconds=EcoSettings().image_wait_seconds)


async def failing_scan(world: EcoWorld, user: EcoUser) -> str:
    """A scan of an image that never arrives, already past waiting: its job fails it."""
    response = await world.classify(user, image_id=str(uuid.uuid4()))
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    await backdate_scan(world.database, task_id, image_wait() + timedelta(seconds=1))
    return task_id


async def all_pages(
    world: EcoWorld, user: EcoUser, path: str, limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list (`path` under the API prefix), following
    `next_cursor` to the end; each page is checked to hold 1 to `limit` items."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await world.client.get(f"{API}{path}", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert 0 < len(page["items"]) <= limit, page
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def error_of(response: httpx.Response) -> tuple[int, str]:
    """The status and error code of an error response (which must have the error shape)."""
    return response.status_code, assert_error_shape(response.json())["code"]
