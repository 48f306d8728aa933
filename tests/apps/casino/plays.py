"""Helpers of the play tests (fairness, slot, gacha): playing over HTTP, wallets, the
ledger's own sums, and recomputing outcomes from revealed data with the stand-alone
recipe of `games/VERIFY.md` (hashlib and hmac only, no project code)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from ensemble.apps.casino.domain import COINS
from ensemble.kernel.db import Database
from ensemble.kernel.ledger import service as ledger
from tests.apps.casino.conftest import API, CasinoWorld, Member

PLAY_TABLES = (
    "casino.hands",
    "casino.seed_pairs",
    "casino.slot_streaks",
    "casino.gacha_pity",
    "casino.gacha_pulls",
    "casino.inventory",
    "ledger.accounts",
    "ledger.entries",
)
"""Every table a play writes: equal snapshots of them mean a refusal wrote nothing."""


async def spin(
    casino: CasinoWorld, member: Member, bet: int, key: str | None = None
) -> httpx.Response:
    headers = {**member.headers, **({"Idempotency-Key": key} if key else {})}
    return await casino.client.post(f"{API}/games/slot/spin", json={"bet": bet}, headers=headers)


async def pull(
    casino: CasinoWorld, member: Member, banner_id: str, count: int, key: str | None = None
) -> httpx.Response:
    headers = {**member.headers, **({"Idempotency-Key": key} if key else {})}
    body = {"banner_id": banner_id, "count": count}
    return await casino.client.post(f"{API}/gacha/spin", json=body, headers=headers)


async def rotate(casino: CasinoWorld, member: Member) -> dict[str, Any]:
    answer = await casino.client.post(f"{API}/fairness/rotate", headers=member.headers)
    assert answer.status_code == 200, answer.text
    rotation: dict[str, Any] = answer.json()
    return rotation


async def give(database: Database, user_id: uuid.UUID, currency: str, amount: int) -> None:
    """Credit a member as a reward would."""
    async with database.unit_of_work() as session:
        account = await ledger.open_account(
            session, realm="casino", owner_id=user_id, currency=currency
        )
        await ledger.earn(session, account_id=account.id, amount=amount, reason="test")


async def balance_and_entry_sum(
    database: Database, user_id: uuid.UUID, currency: str = COINS
) -> tuple[int, int]:
    """The account's balance and the signed sum of its entries (they must agree)."""
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT a.balance, COALESCE(SUM(CASE e.direction WHEN 'EARN' THEN e.amount"
                    " ELSE -e.amount END), 0) FROM ledger.accounts a"
                    " LEFT JOIN ledger.entries e ON e.account_id = a.id"
                    " WHERE a.owner_realm = 'casino' AND a.owner_id = :owner"
                    " AND a.currency = :currency GROUP BY a.balance"
                ),
                {"owner": user_id, "currency": currency},
            )
        ).one()
        return int(row[0]), int(row[1])


# the stand-alone recipe (games/VERIFY.md)


def floats(server_seed: str, client_seed: str, nonce: int, version: int, count: int) -> list[float]:
    msg, out = f"{client_seed}:{nonce}:{version}", []
    for r in range((count + 7) // 8):
        m = msg if r == 0 else f"{msg}:{r}"
        d = hmac.new(server_seed.encode(), m.encode(), hashlib.sha256).digest()
        out += [int.from_bytes(d[i : i + 4], "big") / 2**32 for i in range(0, 32, 4)]
    return out[:count]


def pick(u: float, weights: list[tuple[str, int]]) -> str:
    ticket, total = int(u * sum(w for _, w in weights)), 0
    return next(o for o, w in weights if ticket < (total := total + w))


def reels_of(revealed: dict[str, Any], paytable: dict[str, Any], nonce: int) -> list[str]:
    """A spin's reels from the revealed pair and the published paytable only."""
    strip = [(stop["symbol"], stop["weight"]) for stop in paytable["strip"]]
    drawn = floats(revealed["server_seed"], revealed["client_seed"], nonce, paytable["version"], 3)
    return [pick(u, strip) for u in drawn]


def pull_of(
    revealed: dict[str, Any],
    rates: dict[str, Any],
    hard_pity: int,
    nonce: int,
    position: int,
    pity_before: int,
) -> tuple[str, str]:
    """A pull's (tier, item) from the revealed pair, the disclosed table and its pity."""
    weights = [(tier, rates["weights"][tier]) for tier in ("SSR", "SR", "R", "N")]
    drawn = floats(
        revealed["server_seed"], revealed["client_seed"], nonce, rates["version"], 2 * position + 2
    )
    u_tier, u_item = drawn[2 * position], drawn[2 * position + 1]
    tier = "SSR" if pity_before + 1 >= hard_pity else pick(u_tier, weights)
    pool = rates["pools"][tier]
    return tier, pool[int(u_item * len(pool))]


def committed(revealed: dict[str, Any]) -> bool:
    """Whether the revealed seed hashes to the commitment published for it."""
    digest = hashlib.sha256(revealed["server_seed"].encode()).hexdigest()
    return bool(digest == revealed["server_seed_hash"])
