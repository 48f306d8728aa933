"""ECO² fixtures: the app served alone, users and admins, and the saga's background roles
(worker, scheduler, relay, consumers) as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from ensemble.apps.eco import service
from ensemble.apps.eco.models import Role
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.conftest import TEST_SECRET, in_process_client
from tests.polling import eventually

API = "/api/v1"
PASSWORD = "correct horse battery"
MAX_CHARACTERS = 3
"""The processes' `ECO_MAX_CHARACTERS`: small, so the compensation path is easy to reach."""
BACKGROUND_ROLES = ("worker", "scheduler", "relay", "consume")


@pytest.fixture
async def eco_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    """ECO² served alone (the spec's exact paths), with its hub and Redis client."""
    async with in_process_client(settings, database, "eco") as client:
        yield client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@dataclass
class EcoUser:
    user_id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


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
        me = await self.client.get(f"{API}/auth/me", headers=_bearer(tokens["access_token"]))
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
        response = await self.client.post(
            f"{API}/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

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

    async def settled(self, user: EcoUser, task_id: str, timeout: float = 30) -> dict[str, Any]:
        """The task once its saga reached a terminal state (failed, or a settled reward)."""
        return await eventually(
            lambda: self.task(user, task_id), is_terminal, timeout=timeout, interval=0.1
        )


def is_terminal(task: dict[str, Any]) -> bool:
    if task["status"] == "failed":
        return True
    reward = task.get("reward") or {}
    return task["status"] == "completed" and reward.get("status") != "pending"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def eco(settings: Settings, database: Database, eco_client: AsyncClient) -> EcoWorld:
    return EcoWorld(settings, database, eco_client)


# The background roles as processes


@pytest.fixture(scope="session")
def process_env(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(tmp_path_factory.mktemp("eco-processes")),
        "JOBS_HEARTBEAT_TIMEOUT_MS": "1500",
        "JOBS_RELAY_INTERVAL_SECONDS": "0.2",
        "EVENTS_RELAY_INTERVAL_SECONDS": "0.1",
        "EVENTS_CLAIM_IDLE_MS": "2000",
        "ECO_MAX_CHARACTERS": str(MAX_CHARACTERS),
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def running(
    role: str, env: dict[str, str], log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`ensemble <role>` as a child process for the duration of the block."""
    output = log.open("ab") if log else None
    process = subprocess.Popen(
        [sys.executable, "-m", "ensemble", role], env=env, stdout=output, stderr=output
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        if log:
            output.close()  # type: ignore[union-attr]


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
