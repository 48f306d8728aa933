"""A headless chromium driven over the DevTools protocol: open pages side by side and read
what their scripts computed (`Browser.open(url).evaluate(js)`). Only loopback is reachable,
so a page that needs anything else fails visibly."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.polling import polled

CHROMIUM = Path("/usr/bin/chromium")


class Page:
    """One tab: `evaluate` runs an expression and returns its JSON value."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def evaluate(self, expression: str) -> Any:
        call_id = next(self._ids)
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        self._socket.send(
            json.dumps({"id": call_id, "method": "Runtime.evaluate", "params": params})
        )
        while True:
            answer = json.loads(self._socket.recv(timeout=30))
            if answer.get("id") == call_id:
                break
        if "exceptionDetails" in answer.get("result", {}):
            raise RuntimeError(answer["result"]["exceptionDetails"])
        return answer["result"]["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, describe: str = "null") -> Any:
        """The expression's value once it is truthy (polled until `timeout` seconds; then
        the error shows `describe`'s value, what the page looked like)."""
        return polled(
            lambda: self.evaluate(expression),
            bool,
            timeout=timeout,
            explain=lambda value: (
                f"{expression!r} stayed {value!r}; the page: {self.evaluate(describe)}"
            ),
        )


class Browser:
    def __init__(self, endpoint: str, sockets: ExitStack) -> None:
        self._endpoint = endpoint
        self._sockets = sockets

    def open(self, url: str) -> Page:
        target = httpx.put(f"{self._endpoint}/json/new?{quote(url, safe='')}").json()
        socket = connect(target["webSocketDebuggerUrl"], max_size=None)
        return Page(self._sockets.enter_context(socket))


def _port_written(port_file: Path, process: subprocess.Popen[bytes]) -> str:
    """What chromium wrote to `DevToolsActivePort` once it listens ('' until then)."""
    if process.poll() is not None:
        raise RuntimeError("chromium exited before it opened its DevTools endpoint")
    return port_file.read_text().strip() if port_file.exists() else ""


@contextmanager
def browser(profile: Path) -> Iterator[Browser]:
    """A headless chromium with a DevTools endpoint on a free loopback port."""
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        written = polled(lambda: _port_written(port_file, process), bool, timeout=60)
        port = written.split()[0]
        with ExitStack() as sockets:
            yield Browser(f"http://127.0.0.1:{port}", sockets)
    finally:
        process.terminate()
        process.wait(timeout=30)
