"""`ensemble serve` as users run it (every app mounted): what it prints before its logs, its
headers, and each app's docs rendered by a real headless browser that can reach nothing but
the server (Swagger UI and ReDoc come from the installed package, not from a CDN).

The browser is Debian's `chromium` (`.ci/run` installs it); without it, the rendering tests
are skipped and say so."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ensemble.kernel.db import Database
from ensemble.kernel.edge import SECURITY_HEADERS
from tests.apicheck import Server, serve

CHROMIUM = Path("/usr/bin/chromium")
OPERATIONS = {
    "stock": ("/api/v1/auth/login", "/api/v1/stores/{store_id}/inventory/transactions"),
    "b0": ("/api/v1/users", "/api/v1/tickets"),
    "eco": ("/api/v1/images/presigned-url", "/api/v1/scan/classify"),
}
"""Per app, operations its docs must show."""
TITLES = {"stock": "DDon-DDon Stock", "b0": "B0", "eco": "ECO²"}
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM} (CI installs Debian's chromium)"
)


@pytest.fixture(scope="module")
def server(
    database_url: str,
    redis_url: str,
    database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """`ensemble serve --no-background`: every app, on the migrated test database."""
    with serve(None, database_url, redis_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


def rendered(url: str, profile: Path) -> str:
    """The DOM of `url` once its scripts ran, in headless chromium that can resolve no host
    but the loopback address (so a page needing a CDN stays blank)."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_serve_says_where_to_open_before_its_logs(server: Server) -> None:
    lines = server.log.read_text().splitlines()
    first_log = next((n for n, line in enumerate(lines) if line.startswith("{")), len(lines))
    welcome = "\n".join(lines[:first_log])
    for name, title in TITLES.items():
        assert f"{title} docs: {server.base_url}/{name}/docs" in welcome, welcome
    assert f"{server.base_url}/health" in welcome


def test_serve_sends_no_server_banner(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/health")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert response.headers["date"].endswith(" GMT")
    for name, value in SECURITY_HEADERS:
        assert response.headers[name.decode()] == value.decode()


@pytest.mark.parametrize(
    ("page", "asset"), [("docs", "swagger-ui-bundle.js"), ("redoc", "redoc.standalone.js")]
)
@pytest.mark.parametrize("app", OPERATIONS)
def test_docs_pages_load_their_assets_from_the_server(
    server: Server, app: str, page: str, asset: str
) -> None:
    html = httpx.get(f"{server.base_url}/{app}/{page}").text
    assert f'"/{app}/static-offline-docs/{asset}"' in html
    assert "https://" not in html.replace("https://fastapi.tiangolo.com", "")
    script = httpx.get(f"{server.base_url}/{app}/static-offline-docs/{asset}")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")


@needs_chromium
@pytest.mark.parametrize("app", OPERATIONS)
def test_swagger_ui_renders_each_apps_operations(server: Server, app: str, tmp_path: Path) -> None:
    dom = rendered(f"{server.base_url}/{app}/docs", tmp_path)
    assert 'class="opblock ' in dom, dom[-2000:]
    for path in OPERATIONS[app]:
        assert f'data-path="{path}"' in dom, path


@needs_chromium
@pytest.mark.parametrize("app", OPERATIONS)
def test_redoc_renders_each_apps_operations(server: Server, app: str, tmp_path: Path) -> None:
    dom = rendered(f"{server.base_url}/{app}/redoc", tmp_path)
    assert 'data-section-id="operation/' in dom, dom[-2000:]
    for path in OPERATIONS[app]:
        assert f">{path}<" in dom, path
