"""Commit-reveal floats: the exact byte-to-float rule, every input matters, the commitment
is checked on verification, and `pick` maps floats to a weight table's outcomes exactly."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ensemble.apps.casino.games import fairness
from ensemble.apps.casino.games.fairness import CommitmentMismatch, commitment, floats, pick

SEED = "9f2c4b7e1a0d3c5b8e6f7a2d4c1b0e9f3a5d7c2b4e6f8a1c3d5b7e9f0a2c4b6d"


def digest_floats(server_seed: str, message: str) -> list[float]:
    """The rule written out once more, independently of the module."""
    digest = hmac.new(server_seed.encode(), message.encode(), hashlib.sha256).digest()
    return [int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in range(0, 32, 4)]


def test_a_server_seed_is_64_fresh_hex_digits() -> None:
    seeds = {fairness.new_server_seed() for _ in range(1000)}
    assert len(seeds) == 1000
    assert all(len(seed) == 64 and int(seed, 16) >= 0 for seed in seeds)


def test_the_commitment_is_the_hex_sha256_of_the_seed() -> None:
    assert commitment("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert commitment(SEED) == hashlib.sha256(SEED.encode()).hexdigest()


def test_floats_follow_the_documented_rule_across_rounds() -> None:
    drawn = floats(SEED, "lucky-7", 42, 3, 20)
    expected = (
        digest_floats(SEED, "lucky-7:42:3")
        + digest_floats(SEED, "lucky-7:42:3:1")
        + digest_floats(SEED, "lucky-7:42:3:2")[:4]
    )
    assert drawn == expected
    assert all(0.0 <= u < 1.0 for u in drawn)


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 16, 17])
def test_fewer_floats_are_a_prefix_of_more(count: int) -> None:
    assert floats(SEED, "c", 1, 1, count) == floats(SEED, "c", 1, 1, 40)[:count]


@pytest.mark.parametrize(
    "changed",
    [
        ("f" + SEED[1:], "c", 1, 1),
        (SEED, "d", 1, 1),
        (SEED, "c", 2, 1),
        (SEED, "c", 1, 2),
    ],
)
def test_every_input_changes_the_floats(changed: tuple[str, str, int, int]) -> None:
    assert floats(*changed, 8) != floats(SEED, "c", 1, 1, 8)


@pytest.mark.parametrize("client_seed", ["", "a:b", "x" * 65, "with space", "é", "tab\t"])
def test_a_client_seed_that_could_blur_the_message_is_refused(client_seed: str) -> None:
    with pytest.raises(ValueError, match="client seed"):
        floats(SEED, client_seed, 1, 1, 1)


@pytest.mark.parametrize("args", [(-1, 1, 1), (1, -1, 1), (1, 1, -1)])
def test_negative_numbers_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="never negative"):
        floats(SEED, "c", *args)


def test_floats_are_uniform_chi_square_over_16_buckets() -> None:
    drawn = [u for nonce in range(5000) for u in floats(SEED, "c", nonce, 1, 16)]
    counts = [0] * 16
    for u in drawn:
        counts[int(u * 16)] += 1
    expected = len(drawn) / 16
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 37.70  # critical value, 15 degrees of freedom, p = 0.001


def test_verify_gives_the_floats_of_a_revealed_seed() -> None:
    hashed = commitment(SEED)
    assert fairness.verify(SEED, hashed, "c", 5, 2, 3) == floats(SEED, "c", 5, 2, 3)
    assert fairness.verify(SEED, hashed.upper(), "c", 5, 2, 3) == floats(SEED, "c", 5, 2, 3)


def test_verify_refuses_a_seed_that_was_not_committed_to() -> None:
    with pytest.raises(CommitmentMismatch):
        fairness.verify(fairness.new_server_seed(), commitment(SEED), "c", 5, 2, 3)


WEIGHTS = [("a", 1), ("b", 0), ("c", 3), ("d", 4)]  # total 8
OWNER_OF_TICKET = ["a", "c", "c", "c", "d", "d", "d", "d"]


@pytest.mark.parametrize("ticket", range(8))
def test_pick_maps_each_tickets_whole_interval_to_its_outcome(ticket: int) -> None:
    first, last = ticket / 8, (ticket + 1) / 8 - 2**-32
    assert pick(first, WEIGHTS) == pick(last, WEIGHTS) == OWNER_OF_TICKET[ticket]


@pytest.mark.parametrize(
    ("u", "weights"),
    [
        (1.0, WEIGHTS),
        (-0.1, WEIGHTS),
        (0.5, [("a", 0)]),
        (0.5, [("a", -1), ("b", 2)]),
        (0.5, [("a", 2**21)]),
    ],
)
def test_pick_refuses_bad_floats_and_tables(u: float, weights: list[tuple[str, int]]) -> None:
    with pytest.raises(ValueError, match=r"float|weights"):
        pick(u, weights)
