"""Secrets come from the environment; development alone may invent them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.kernel.identity.external import external_secret
from ensemble.settings import Settings


def test_development_key_is_created_once_and_shared(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key=None).signing_key()
    second = Settings(data_dir=tmp_path, secret_key=None).signing_key()
    assert first == second
    assert len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0, "readable by the owner only"


def test_production_refuses_to_invent_secrets(tmp_path: Path) -> None:
    production = Settings(data_dir=tmp_path, secret_key=None, environment="production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        production.signing_key()
    configured = Settings(data_dir=tmp_path, secret_key="k" * 40, environment="production")
    assert configured.signing_key() == "k" * 40
    with pytest.raises(RuntimeError, match="EXTERNAL_JWT_SECRET"):
        external_secret(configured)


@pytest.mark.parametrize(
    ("serve_app", "title"), [("", "ensemble"), ("stock", "DDon-DDon Stock"), ("b0", "B0")]
)
def test_worker_processes_build_the_app_serve_asked_for(
    monkeypatch: pytest.MonkeyPatch, serve_app: str, title: str
) -> None:
    """With `serve --workers N` each process builds the app from the environment."""
    from ensemble.kernel.observability import logging as json_logging
    from ensemble.server import app_from_environment
    from ensemble.settings import get_settings

    monkeypatch.setattr(json_logging, "configure_logging", lambda level: None)
    monkeypatch.setenv("SERVE_APP", serve_app)
    get_settings.cache_clear()
    try:
        app = app_from_environment()
    finally:
        get_settings.cache_clear()
    assert app.title == title
