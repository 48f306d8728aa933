"""Supervising the child processes `ensemble serve` starts (one per background role).

A thread of the serving process checks its children every `tick` seconds; one that has
exited is reaped, logged and started again after an exponential backoff (`backoff`,
doubled for each exit that follows its start within `stable_after`, at most
`max_backoff`): a role that keeps crashing at start does not spin, one that ran for a
while comes back at once.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Spawn = Callable[[str], "subprocess.Popen[bytes]"]
STOP_GRACE_SECONDS = 30.0


@dataclass
class Child:
    """One role's current process, and its restart bookkeeping."""

    role: str
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    quick_exits: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    roles: Sequence[str]
    spawn: Spawn
    backoff: float = 1.0
    max_backoff: float = 30.0
    stable_after: float = 60.0
    tick: float = 0.2
    children: list[Child] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        """Start every role, then watch them from a daemon thread."""
        self.children = [Child(role, self.spawn(role)) for role in self.roles]
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, then SIGTERM every child (SIGKILL past the grace period)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for child in self.children:
            child.process.terminate()
        for child in self.children:
            try:
                child.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    def _watch(self) -> None:
        while not self._stop.wait(self.tick):
            for child in self.children:
                self.check(child, time.monotonic())

    def check(self, child: Child, now: float) -> None:
        """Restart `child` when its backoff is over, or schedule that if it has exited."""
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._restart(child, now)
            return
        code = child.process.poll()
        if code is None:
            return
        child.quick_exits = child.quick_exits + 1 if now - child.started < self.stable_after else 0
        delay = min(self.max_backoff, self.backoff * 2 ** max(child.quick_exits - 1, 0))
        child.restart_at = now + delay
        logger.warning(
            "%s (pid %s) exited with %s; restarting it in %.1f s",
            child.role,
            child.process.pid,
            code,
            delay,
        )

    def _restart(self, child: Child, now: float) -> None:
        child.process = self.spawn(child.role)
        child.started, child.restart_at = now, None
        logger.warning("%s restarted as pid %s", child.role, child.process.pid)
