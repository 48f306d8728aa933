"""The example client at `/focus/demo` under `ensemble serve`: two pages in a real headless
browser join one running room, sync their clocks over the socket and show the same
remaining time and end clock time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ensemble.kernel.db import Database
from tests.apicheck import Server, bearer, serve
from tests.apps.focus.conftest import PASSWORD
from tests.cdp import CHROMIUM, browser

FOCUS = "/focus/api/v1"
SYNCED = (
    "document.body && document.body.dataset.endsAtLocal"
    " && Number(document.body.dataset.clockSamples) >= 5"
    " && document.body.dataset.endsAtLocal"
)
"""A page's end of phase by the local clock, once it has applied five clock samples."""
PAGE_STATE = (
    "JSON.stringify({status: document.getElementById('status').textContent,"
    " phase: document.getElementById('phase').textContent, data: document.body.dataset})"
)


@pytest.fixture(scope="module")
def server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`ensemble serve --no-background`: every app, as users run it."""
    with serve(None, database_url, redis_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_the_demo_page_is_served_beside_the_api(server: Server) -> None:
    page = httpx.get(f"{server.base_url}/focus/demo")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/ws/rooms/" in page.text
    assert "https://" not in page.text  # nothing from elsewhere


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}")
def test_two_clients_show_the_same_remaining_time(server: Server, tmp_path: Path) -> None:
    api = f"{server.base_url}{FOCUS}"
    account = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}
    ok(httpx.post(f"{api}/auth/register", json=account), 201)
    token = ok(httpx.post(f"{api}/auth/login", json=account))["access_token"]
    room = ok(httpx.post(f"{api}/rooms", json={"name": "Demo room"}, headers=bearer(token)), 201)
    room_id = room["room_id"]
    timer = ok(httpx.post(f"{api}/rooms/{room_id}/timer/start", headers=bearer(token)))
    server_end_ms = datetime.fromisoformat(timer["phase_ends_at"]).timestamp() * 1000

    with browser(tmp_path / "profile") as chromium:
        url = f"{server.base_url}/focus/demo#room={room_id}&token={token}"
        pages = [chromium.open(url), chromium.open(url)]
        ends = [float(page.wait_for(SYNCED, describe=PAGE_STATE)) for page in pages]
        shown = [
            page.evaluate("document.getElementById('remaining').textContent") for page in pages
        ]

    assert abs(ends[0] - ends[1]) < 50, ends
    assert all(abs(end - server_end_ms) < 50 for end in ends), (ends, server_end_ms)
    assert all(text.count(":") == 1 and text != "--:--" for text in shown), shown
