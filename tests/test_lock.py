"""`constraints.txt` pins every dependency of the project (and of its dev and s3 extras)
within the ranges `pyproject.toml` allows, so `pip install -c constraints.txt …` gets what
CI tested."""

from __future__ import annotations

import runpy
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = runpy.run_path(str(ROOT / ".ci" / "lock.py"))


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {canonicalize_name(name): version for name, version in pairs}


def test_every_pin_is_one_exact_version() -> None:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    for line in lines:
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            assert [spec.operator for spec in requirement.specifier] == ["=="], line


def test_every_direct_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    requirements: list[tuple[Requirement, str | None]] = LOCK["_project_requirements"]()
    checked = 0
    for requirement, extra in requirements:
        if extra == "bench" or not LOCK["_applies"](requirement, extra):
            continue  # the bench extra is pinned only where it is installed
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} ({extra or 'base'}) is not in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
        checked += 1
    assert checked >= 40
