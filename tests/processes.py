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
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        if output is not None:
            output.close()
