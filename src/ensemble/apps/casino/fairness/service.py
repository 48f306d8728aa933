"""Seed pairs and nonces (A2). A member's plays draw from the pair in use: `advance` adds 1
to its nonce in the play's own transaction (one `UPDATE … RETURNING`, which also queues the
member's concurrent plays on that row), so two plays never share a nonce and a play that
rolls back gives its nonce back. `rotate` reveals the pair in use and commits a new one.
Never commit."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions import service as actions
from ensemble.apps.casino.domain import GameType
from ensemble.apps.casino.fairness.models import SeedPair
from ensemble.apps.casino.games import fairness
from ensemble.apps.casino.leaderboards import service as leaderboards
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.models import Hand
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import Conflict
from ensemble.kernel.pagination import Page, PageRequest, newest_first

IDEMPOTENCY_NAMESPACE = uuid.UUID("0b9c3a52-5d1e-4f0e-9a57-6c2f1e8d4a10")
"""Hands played under an `Idempotency-Key` get the id uuid5(namespace, member:game:key)."""


class KeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for another play."


@dataclass(frozen=True)
class Draw:
    """What one play is drawn from: the pair in use and the play's own nonce."""

    server_seed: str
    server_seed_hash: str
    client_seed: str
    nonce: int

    def floats(self, table_version: int, count: int) -> list[float]:
        return fairness.floats(self.server_seed, self.client_seed, self.nonce, table_version, count)


def new_client_seed() -> str:
    """The default client seed of a pair: 16 random hex digits (the member may set theirs)."""
    return uuid.uuid4().hex[:16]


def _fresh_pair(user_id: uuid.UUID, client_seed: str | None) -> dict[str, object]:
    server_seed = fairness.new_server_seed()
    return {
        "id": new_id(),
        "user_id": user_id,
        "server_seed": server_seed,
        "server_seed_hash": fairness.commitment(server_seed),
        "client_seed": client_seed or new_client_seed(),
        "nonce": 0,
        "created_at": utcnow(),
    }


_IN_USE = SeedPair.revealed_at.is_(None)


async def _ensure_pair(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Commit a first pair for a member who has none in use (a no-op if one exists, also
    when two first calls race: the partial unique index keeps one)."""
    await session.execute(
        insert(SeedPair)
        .values(_fresh_pair(user_id, None))
        .on_conflict_do_nothing(index_elements=[SeedPair.user_id], index_where=_IN_USE)
    )


async def current(session: AsyncSession, user_id: uuid.UUID) -> SeedPair:
    """The pair in use (committed now if the member has none yet)."""
    query = select(SeedPair).where(SeedPair.user_id == user_id, _IN_USE)
    found = await session.scalar(query)
    if found is None:
        await _ensure_pair(session, user_id)
        found = await session.scalar(query)
    assert found is not None, "a pair in use exists after _ensure_pair"
    return found


_ADVANCE = """
UPDATE casino.seed_pairs SET nonce = nonce + 1
WHERE user_id = $1 AND revealed_at IS NULL
RETURNING server_seed, server_seed_hash, client_seed, nonce
"""


async def advance(session: AsyncSession, user_id: uuid.UUID) -> Draw:
    """The next play's draw: the nonce of the pair in use, plus 1, in one statement."""
    connection = await transaction_connection(session)
    row = await connection.fetchrow(_ADVANCE, user_id)
    if row is None:
        await _ensure_pair(session, user_id)
        row = await connection.fetchrow(_ADVANCE, user_id)
    assert row is not None, "a pair in use exists after _ensure_pair"
    return Draw(*row)


async def lock(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Queue behind the member's plays in flight (the pair in use, locked to the end of the
    transaction), e.g. before looking for a hand an `Idempotency-Key` already played."""
    await current(session, user_id)
    await session.execute(
        select(SeedPair.id).where(SeedPair.user_id == user_id, _IN_USE).with_for_update()
    )


def hand_id(user_id: uuid.UUID, game: str, idempotency_key: str | None) -> uuid.UUID:
    """The id of a new hand: derived from its `Idempotency-Key` (per member and game), else
    new."""
    if idempotency_key is None:
        return new_id()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}:{game}:{idempotency_key}")


async def played(
    session: AsyncSession, user_id: uuid.UUID, hand: uuid.UUID, idempotency_key: str | None
) -> Hand | None:
    """With an `Idempotency-Key`, the hand already played under it, if any. Takes the lock
    first: a concurrent play under the same key has committed (and is found) or not begun."""
    if idempotency_key is None:
        return None
    await lock(session, user_id)
    return await session.get(Hand, hand, populate_existing=True)


async def _reveal(session: AsyncSession, user_id: uuid.UUID) -> SeedPair | None:
    revealed = await session.scalars(
        update(SeedPair)
        .where(SeedPair.user_id == user_id, _IN_USE)
        .values(revealed_at=utcnow())
        .returning(SeedPair)
        .execution_options(synchronize_session=False)
    )
    return revealed.first()


async def rotate(
    session: AsyncSession, user_id: uuid.UUID, client_seed: str | None = None
) -> tuple[SeedPair, SeedPair]:
    """Reveal the pair in use and commit a new one, with `client_seed` (checked) or the
    member's current client seed: (the revealed pair, the new one)."""
    if client_seed is not None:
        fairness.check_client_seed(client_seed)
    old = await _reveal(session, user_id)
    if old is None:
        await _ensure_pair(session, user_id)
        old = await _reveal(session, user_id)
    assert old is not None, "a pair in use exists after _ensure_pair"
    new = SeedPair(**_fresh_pair(user_id, client_seed or old.client_seed))
    session.add(new)
    await session.flush()
    return old, new


async def revealed_pairs(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[SeedPair]:
    """The member's revealed pairs, the latest revealed first."""
    query = select(SeedPair).where(SeedPair.user_id == user_id, SeedPair.revealed_at.is_not(None))
    return await newest_first(session, query, page, SeedPair.revealed_at, SeedPair.id)


HAND_ACTIONS = {GameType.SLOT: "SLOT_SPIN", GameType.GACHA: "GACHA_SPIN"}
"""The action (A7) each game's hand is logged as."""

_INSERT_HAND = """
INSERT INTO casino.hands (id, user_id, game_type, session_id, currency, bet, payout,
                          server_seed_hash, nonce, table_version, outcome, played_at)
VALUES ($1, $2, $3, (SELECT id FROM casino.game_sessions WHERE user_id = $2 AND ended_at IS NULL),
        $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
RETURNING session_id
"""
"""A hand stamped with the member's open game session, in one round trip."""


async def add_hand(session: AsyncSession, hand: Hand, *, redis: Redis | None) -> None:
    """Write a finished hand in the play's transaction: stamped with the member's open game
    session, logged as an action (achievements and stats count it) and, once the play
    commits, counted on the leaderboards (when the process has Redis). `hand` is written by
    SQL and stays out of the ORM session."""
    connection = await transaction_connection(session)
    hand.session_id = await connection.fetchval(
        _INSERT_HAND, hand.id, hand.user_id, hand.game_type.value, hand.currency, hand.bet,
        hand.payout, hand.server_seed_hash, hand.nonce, hand.table_version,
        json.dumps(hand.outcome, separators=(",", ":")), hand.played_at,
    )  # fmt: skip
    context = {"hand_id": str(hand.id), "bet": hand.bet, "payout": hand.payout}
    await actions.record_action(session, hand.user_id, HAND_ACTIONS[hand.game_type], context)
    await responsible_play.reality_check(session, hand)
    if redis is not None:
        leaderboards.record_after_commit(session, redis, hand)
