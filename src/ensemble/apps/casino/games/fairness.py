"""Commit-reveal randomness: every chance outcome is a function of revealed data.

The server draws a secret `server_seed`, publishes `commitment(server_seed)` before any play,
and reveals the seed when the member rotates it. Each play uses the member's `client_seed`,
the next `nonce` and the version of the table it is played on, so anyone holding the
revealed seed recomputes its floats (`floats`), then its outcome (`slot.spin`,
`gacha.pull`). `VERIFY.md` is the same computation in plain Python.

**Byte-to-float rule.** Round `r` of a play is
`HMAC-SHA256(key=server_seed.encode(), msg=f"{client_seed}:{nonce}:{table_version}")` for
`r = 0` and the same message followed by `f":{r}"` for `r >= 1`. Each 32-byte digest is cut
into eight 4-byte groups, read big-endian as unsigned integers `k`, and each gives the float
`k / 2**32` in [0, 1), in order. Rounds follow each other until `count` floats are drawn.
A float is exact in a double (32 significant bits) and so is `u * total` for any weight
total below 2**21, which `pick` relies on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import TypeVar

FLOATS_PER_DIGEST = 8
_BYTES_PER_FLOAT = 4
_SCALE = 2**32
MAX_WEIGHT_TOTAL = 2**21
"""A weight table's total stays below this, so `int(u * total)` is computed exactly."""

CLIENT_SEED = re.compile(r"[!-9;-~]{1,64}")
"""1 to 64 printable ASCII characters but ':' (the message's separator) and space: a
message then reads back into one (client seed, nonce, version, round) only."""


T = TypeVar("T")


class CommitmentMismatch(ValueError):
    """The revealed seed does not hash to the published commitment."""


def new_server_seed() -> str:
    """A fresh secret seed: 32 bytes from the operating system's CSPRNG, as 64 hex digits."""
    return secrets.token_hex(32)


def commitment(server_seed: str) -> str:
    """What is published before any play: the hex SHA-256 of the seed's UTF-8 bytes."""
    return hashlib.sha256(server_seed.encode()).hexdigest()


def check_client_seed(client_seed: str) -> str:
    """`client_seed` if it may be used in a message, else ValueError."""
    if not CLIENT_SEED.fullmatch(client_seed):
        raise ValueError("a client seed is 1 to 64 printable ASCII characters, no ':'")
    return client_seed


def message(client_seed: str, nonce: int, table_version: int, cursor: int = 0) -> bytes:
    """The HMAC message of round `cursor` of a play (module docstring)."""
    base = f"{check_client_seed(client_seed)}:{nonce}:{table_version}"
    return (base if cursor == 0 else f"{base}:{cursor}").encode()


def floats(
    server_seed: str, client_seed: str, nonce: int, table_version: int, count: int
) -> list[float]:
    """The play's first `count` uniform floats in [0, 1) (module docstring)."""
    if nonce < 0 or table_version < 0 or count < 0:
        raise ValueError("nonce, table version and count are never negative")
    key = server_seed.encode()
    out: list[float] = []
    for cursor in range(-(-count // FLOATS_PER_DIGEST)):
        digest = hmac.digest(key, message(client_seed, nonce, table_version, cursor), "sha256")
        out.extend(
            int.from_bytes(digest[i : i + _BYTES_PER_FLOAT], "big") / _SCALE
            for i in range(0, len(digest), _BYTES_PER_FLOAT)
        )
    return out[:count]


def verify(
    server_seed: str,
    server_seed_hash: str,
    client_seed: str,
    nonce: int,
    table_version: int,
    count: int,
) -> list[float]:
    """A past play's floats, once the revealed seed is checked against its commitment.

    Raises `CommitmentMismatch` if `server_seed` is not the seed that was committed to."""
    if not hmac.compare_digest(commitment(server_seed), server_seed_hash.lower()):
        raise CommitmentMismatch("the revealed seed does not match the commitment")
    return floats(server_seed, client_seed, nonce, table_version, count)


def pick(u: float, weights: Sequence[tuple[T, int]]) -> T:
    """The outcome a float selects from a weight table, in the table's published order.

    The ticket `int(u * total)` falls in exactly one outcome's interval of `weight` tickets;
    each outcome has probability `weight / total` (up to the floats' 2**-32 resolution)."""
    total = sum(weight for _, weight in weights)
    if not 0 < total < MAX_WEIGHT_TOTAL or any(weight < 0 for _, weight in weights):
        raise ValueError("weights are non-negative with a total in (0, 2**21)")
    if not 0.0 <= u < 1.0:
        raise ValueError("a float is in [0, 1)")
    ticket = int(u * total)
    for outcome, weight in weights:
        if ticket < weight:
            return outcome
        ticket -= weight
    raise AssertionError("unreachable: ticket < total")
