"""Fixtures shared by the kernel's event tests."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def kind() -> str:
    """An aggregate type (so a stream or topic, a consumer and a projection name) of this
    test alone, so what it reads starts empty."""
    return f"test-{uuid.uuid4().hex[:12]}"
