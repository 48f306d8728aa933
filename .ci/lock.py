"""Write `constraints.txt`: the exact versions installed here of everything the project
needs, with its extras (`dev`, `s3`, `bench`), found by walking the
requirements from `pyproject.toml` through the installed packages' metadata.

Run it from the repository root in an environment where `pip install -e '.[dev,bench]'` passed
the tests, after any dependency change in `pyproject.toml`:

    python .ci/lock.py            # rewrite constraints.txt
    python .ci/lock.py --check    # exit 1 if a package installed here is pinned otherwise

Installing with `pip install -c constraints.txt -e '.[dev]'` then gets those versions.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
EXTRAS = ("dev", "s3", "bench")
HEADER = """\
# Exact versions of the project's dependencies (with the dev, s3 and bench extras), the ones
# CI tested: pip install -c constraints.txt -e '.[dev]'
# Written by `python .ci/lock.py` from an environment that passed; do not edit by hand.
"""


def _project_requirements() -> list[tuple[Requirement, str | None]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [(Requirement(r), None) for r in project["dependencies"]]
    for extra in EXTRAS:
        wanted += [(Requirement(r), extra) for r in project["optional-dependencies"][extra]]
    return wanted


def _applies(requirement: Requirement, extra: str | None) -> bool:
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate({"extra": extra or ""})


def _closure() -> dict[str, str]:
    """Installed name -> version of every requirement reached (a missing optional one of
    the bench extra is skipped: it is not installed for CI)."""
    pinned: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(r, extra) for r, extra in _project_requirements() if _applies(r, extra)]
    while queue:
        requirement, _ = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pinned[name] = distribution.version
        for raw in distribution.requires or ():
            needed = Requirement(raw)
            for extra in (None, *requirement.extras):
                if _applies(needed, extra):
                    queue.append((needed, extra))
                    break
    return pinned


def render() -> str:
    lines = [f"{name}=={version}" for name, version in sorted(_closure().items())]
    return HEADER + "\n".join(lines) + "\n"


def _stale(current: str) -> list[str]:
    """What `constraints.txt` gets wrong for this environment: a package the project
    reaches here that is missing or pinned to another version, or a pin of an installed
    package the project no longer reaches. Pins of packages not installed here (the bench
    extra in CI) are left alone, so the check passes with or without that extra."""
    pins = dict(line.split("==") for line in current.splitlines() if "==" in line)
    reached = _closure()
    wrong = [f"{name}=={version}" for name, version in reached.items() if pins.get(name) != version]
    for name in pins.keys() - reached.keys():
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        wrong.append(f"{name} (installed, no longer needed)")
    return sorted(wrong)


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        wrong = _stale(LOCK.read_text() if LOCK.exists() else "")
        if wrong:
            print(
                "constraints.txt is stale: run python .ci/lock.py",
                *wrong,
                sep="\n  ",
                file=sys.stderr,
            )
            return 1
        return 0
    wanted = render()
    LOCK.write_text(wanted)
    print(f"{LOCK.name}: {wanted.count('==')} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
