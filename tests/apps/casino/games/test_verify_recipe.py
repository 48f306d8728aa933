"""VERIFY.md's stand-alone recipe, executed from the markdown file: its worked examples hold,
and it gives the library's outcome for slot spins and gacha pulls of many plays."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ensemble.apps.casino import games
from ensemble.apps.casino.games import fairness, gacha, slot
from tests.apps.casino.games.conftest import seeded_floats

RECIPE = Path(games.__file__).with_name("VERIFY.md").read_text()
RECIPE_CODE, SLOT_CODE, GACHA_CODE = re.findall(r"```python\n(.*?)```", RECIPE, re.DOTALL)
INPUTS = re.compile(r"^client_seed, nonce, .*$", re.MULTILINE)
CLAIM = re.compile(r"^assert (stops|\(tier, item\)) == .*$", re.MULTILINE)


def run(code: str, namespace: dict[str, Any], inputs: str | None = None) -> dict[str, Any]:
    """Execute a block of the markdown; with `inputs`, on other plays than its example (the
    block's input line replaced, its claim about the example's result dropped)."""
    if inputs is not None:
        code = CLAIM.sub("", INPUTS.sub(inputs, code))
    exec(code, namespace)
    return namespace


@pytest.fixture
def recipe() -> dict[str, Any]:
    return run(RECIPE_CODE, {})


def gacha_table(ns: dict[str, Any]) -> gacha.RateTable:
    """The library table of the recipe's published rates and pools."""
    return gacha.RateTable(
        version=ns["version"],
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        weights={gacha.Tier(tier): weight for tier, weight in ns["RATES"]},
        pools={gacha.Tier(tier): tuple(items) for tier, items in ns["POOLS"].items()},
    )


def test_the_recipe_is_about_ten_lines() -> None:
    assert len([line for line in RECIPE_CODE.splitlines() if line.strip()]) <= 12


def test_the_recipes_reel_is_the_published_paytables() -> None:
    assert run(SLOT_CODE, run(RECIPE_CODE, {}))["REEL"] == list(slot.PAYTABLE.reel)


def test_the_slot_example_is_the_librarys_outcome(recipe: dict[str, Any]) -> None:
    ns = run(SLOT_CODE, recipe)  # its own asserts: the commitment and the stops
    floats = fairness.verify(
        ns["server_seed"],
        fairness.commitment(ns["server_seed"]),
        ns["client_seed"],
        ns["nonce"],
        ns["version"],
        slot.PAYTABLE.reels,
    )
    assert ns["version"] == slot.PAYTABLE.version
    assert list(slot.spin(floats, 1).stops) == ns["stops"]


def test_the_gacha_example_is_the_librarys_outcome(recipe: dict[str, Any]) -> None:
    ns = run(GACHA_CODE, run(SLOT_CODE, recipe))
    floats = fairness.floats(ns["server_seed"], "lucky-7", 7, 3, gacha.FLOATS_PER_PULL)
    result = gacha.pull(floats, gacha_table(ns), ns["pity"], ns["hard_pity"])
    assert (result.tier, result.item) == (ns["tier"], ns["item"])


def test_the_recipe_gives_the_librarys_floats_and_picks(recipe: dict[str, Any]) -> None:
    seed = fairness.new_server_seed()
    for nonce, count in enumerate([0, 1, 3, 8, 9, 17, 30]):
        assert recipe["floats"](seed, "c", nonce, 4, count) == fairness.floats(
            seed, "c", nonce, 4, count
        )
    weights = [("a", 1), ("b", 0), ("c", 5), ("d", 2)]
    for u in seeded_floats(3)(2000):
        assert recipe["pick"](u, weights) == fairness.pick(u, weights)


def test_the_recipe_recomputes_slot_spins_of_many_plays(recipe: dict[str, Any]) -> None:
    ns = run(SLOT_CODE, recipe)
    for nonce in range(1, 300):
        run(SLOT_CODE, ns, f'client_seed, nonce, version = "me", {nonce}, 1')
        floats = fairness.floats(ns["server_seed"], "me", nonce, 1, 3)
        assert ns["stops"] == list(slot.spin(floats, 1).stops)


@pytest.mark.parametrize("pity", [0, 45, 88, 89])
def test_the_recipe_recomputes_gacha_pulls_of_many_plays(recipe: dict[str, Any], pity: int) -> None:
    ns = run(GACHA_CODE, run(SLOT_CODE, recipe))
    table = gacha_table(ns)
    for nonce in range(1, 100):
        inputs = f'client_seed, nonce, version, pity, hard_pity = "me", {nonce}, 3, {pity}, 90'
        run(GACHA_CODE, ns, inputs)
        floats = fairness.floats(ns["server_seed"], "me", nonce, 3, 2)
        result = gacha.pull(floats, table, pity, 90)
        assert (ns["tier"], ns["item"]) == (result.tier, result.item)


def test_the_readme_shows_the_same_recipe() -> None:
    readme = (Path(__file__).parents[4] / "README.md").read_text()
    assert f"```python\n{RECIPE_CODE}```" in readme
