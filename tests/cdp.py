"""A headless chromium driven over the DevTools protocol: open pages side by side and read
what their scripts computed (`Browser.open(url).evaluate(js)`). Only loopback is reachable,
so a page that needs anything else fails visibly."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from websockets.sync.client import ClientConnection, connect

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
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                seen = self.evaluate(describe)
                raise TimeoutError(f"{expression!r} stayed {value!r}; the page: {seen}")
            time.sleep(0.05)  # polling a page's state: there is no event to wait on


class Browser:
    def __init__(self, endpoint: str, sockets: ExitStack) -> None:
        self._endpoint = endpoint
        self._sockets = sockets

    def open(self, url: str) -> Page:
        target = httpx.put(f"{self._endpoint}/json/new?{quote(url, safe='')}").json()
        socket = connect(target["webSocketDebuggerUrl"], max_size=None)
        return Page(self._sockets.enter_context(socket))


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
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools endpoint")
            time.sleep(0.05)  # chromium writes the file when it is listening
        port = port_file.read_text().split()[0]
        with ExitStack() as sockets:
            yield Browser(f"http://127.0.0.1:{port}", sockets)
    finally:
        process.terminate()
        process.wait(timeout=30)
