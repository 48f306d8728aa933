"""The system's roles (`ensemble worker`, `scheduler`, `relay`, `consume`, …) as child
processes of a test, for tests on the real stack."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
