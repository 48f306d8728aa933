"""The system's roles (`ensemble worker`, `scheduler`, `relay`, `consume`, …) as child
processes of a test, for tests on the real stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ensemble.settings import Settings
from tests.conftest import TEST_SECRET

BACKGROUND_ROLES = ("worker", "scheduler", "relay", "consume")


def roles_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of roles on the test's database and Redis, with `extra` variables:
    quick to poll, and quick to take over a dead process's jobs and events."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "JOBS_HEARTBEAT_TIMEOUT_MS": "1500",
        "JOBS_RELAY_INTERVAL_SECONDS": "0.2",
        "EVENTS_RELAY_INTERVAL_SECONDS": "0.1",
        "EVENTS_CLAIM_IDLE_MS": "2000",
        **extra,
    }


@contextmanager
def running(
    role: str, env: dict[str, str], log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`ensemble <role>` as a child process for the duration of the block (its output
    appended to `log`, else inherited)."""
    output = log.open("ab") if log else None
    process = subprocess.Popen(
        [sys.executable, "-m", "ensemble", role], env=env, stdout=output, stderr=output
    )
    try:
        yield process
    finally:
        stop(process)
        if output is not None:
            output.close()


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `grace` seconds (a worker
    waiting out a job's backoff may take longer than a test wants to wait)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Fleet:
    """Background roles as processes, each restartable. On exit all are asked to stop at
    once (each `running` block then waits for its own), so teardown takes the slowest one,
    not the sum. With `logs`, a role logs to `<logs>/<role>.log`, appended across restarts."""

    env: dict[str, str]
    stack: ExitStack
    logs: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, role: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{role}.log" if self.logs else None
        self.processes[role] = self.stack.enter_context(running(role, self.env, log))
        return self.processes[role]

    def kill(self, role: str) -> int:
        """SIGKILL the role's process (it cleans up nothing); returns its pid."""
        process = self.processes[role]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.send_signal(signal.SIGCONT)  # a stopped process gets its SIGTERM


@contextmanager
def fleet(
    env: dict[str, str], logs: Path | None = None, roles: Iterable[str] = BACKGROUND_ROLES
) -> Iterator[Fleet]:
    with ExitStack() as stack:
        crew = Fleet(env, stack, logs)
        for role in roles:
            crew.start(role)
        try:
            yield crew
        finally:
            crew.stop_all()
