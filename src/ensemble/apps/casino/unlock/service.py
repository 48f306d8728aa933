"""Age-gated unlock use cases (B5): verify a member's age once through the port, unlock a
content stage by stage (paid in coins from the ledger, counted by responsible play, logged
in `casino.unlocks`, all in one transaction), and list contents without any locked body.
Never commit. Whether the feature is on is the endpoints' check."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import COINS, rank_reaches
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.service import NotEnoughCurrency, member
from ensemble.apps.casino.unlock.domain import Stage, previous
from ensemble.apps.casino.unlock.models import AgeVerification, Unlock, UnlockContent, UnlockStage
from ensemble.apps.casino.unlock.verification import VerificationPort
from ensemble.kernel.errors import Conflict, Forbidden, NotFound
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.errors import InsufficientBalance
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate

REASON = "unlock"
"""The ledger reason of an unlock's price."""


class UnlockDisabled(NotFound):
    code = "unlock_disabled"
    message = "Content unlocking is not available."


class AgeNotVerified(Forbidden):
    code = "age_not_verified"
    message = "Verify your age first (POST /api/unlock/verify)."


class NotAdult(Forbidden):
    code = "not_adult"
    message = "The verification did not find you an adult in your jurisdiction."


class ContentNotFound(NotFound):
    code = "content_not_found"
    message = "No such content or stage."


class PreviousStageLocked(Conflict):
    code = "previous_stage_locked"
    message = "Unlock the previous stage first."


class TierTooLow(Forbidden):
    code = "tier_too_low"
    message = "Your VIP tier or rank is below this stage's."


# age verification


async def verification(session: AsyncSession, user_id: uuid.UUID) -> AgeVerification | None:
    return await session.get(AgeVerification, user_id)


async def verify(
    session: AsyncSession,
    user_id: uuid.UUID,
    port: VerificationPort,
    *,
    jurisdiction: str,
    birth_date: date,
    now: datetime,
) -> tuple[AgeVerification, bool]:
    """Verify the member's age through the port: (the verification, whether it is new). A
    member verified once stays verified (the port is not asked again); a minor gets 403
    `not_adult` and nothing is written."""
    if (found := await verification(session, user_id)) is not None:
        return found, False
    verdict = await port.verify(
        user_id, jurisdiction=jurisdiction, birth_date=birth_date, today=now.date()
    )
    if not verdict.adult:
        raise NotAdult(details={"jurisdiction": jurisdiction, "minimum_age": verdict.minimum_age})
    inserted = await session.scalar(
        insert(AgeVerification)
        .values(
            user_id=user_id,
            jurisdiction=jurisdiction,
            provider=port.name,
            reference=verdict.reference,
            verified_at=now,
        )
        .on_conflict_do_nothing()
        .returning(AgeVerification)
    )
    if inserted is None:  # a concurrent verification committed first
        found = await session.get(AgeVerification, user_id, populate_existing=True)
        assert found is not None
        return found, False
    return inserted, True


# unlocking


async def _stage(session: AsyncSession, content_id: str, stage: Stage) -> UnlockStage:
    found = await session.get(UnlockStage, (content_id, stage.value))
    if found is None:
        raise ContentNotFound(details={"content_id": content_id, "stage": stage.value})
    return found


async def _unlocked(
    session: AsyncSession, user_id: uuid.UUID, content_id: str, stage: Stage
) -> Unlock | None:
    return await session.get(Unlock, (user_id, content_id, stage.value), populate_existing=True)


async def _pay(session: AsyncSession, record: Unlock, now: datetime) -> None:
    """The price from the member's coins (409 `insufficient_coins`), counted by responsible
    play first (403 `self_excluded`/`cooling_off`, 409 `limit_reached`)."""
    if record.price_coins == 0:
        return
    await responsible_play.charge_play(
        session, record.user_id, spent=record.price_coins, currency=COINS, now=now, bet=False
    )
    try:
        await ledger.spend_by_owner(
            session,
            AccountOwner(realm=REALM, owner_id=record.user_id, currency=COINS),
            amount=record.price_coins,
            reason=REASON,
            reference_type="casino.unlock",
            reference_id=f"{record.content_id}:{record.stage}",
            idempotency_key=f"unlock:{record.content_id}:{record.stage}",
        )
    except InsufficientBalance as exc:
        raise NotEnoughCurrency(
            code=f"insufficient_{COINS}",
            details={"currency": COINS, "needed": record.price_coins},
        ) from exc


@dataclass(frozen=True)
class Unlocked:
    record: Unlock
    stage: UnlockStage
    created: bool


async def unlock(
    session: AsyncSession, user_id: uuid.UUID, content_id: str, stage: Stage, now: datetime
) -> Unlocked:
    """Unlock a stage: 403 `age_not_verified`, 404 `content_not_found`, an unlocked stage
    again answers as it is, 409 `previous_stage_locked`, 403 `tier_too_low`, then the price
    (see `_pay`) and the log row, in one transaction; any refusal writes nothing."""
    verified = await verification(session, user_id)
    if verified is None:
        raise AgeNotVerified()
    found = await _stage(session, content_id, stage)
    if (earlier := await _unlocked(session, user_id, content_id, stage)) is not None:
        return Unlocked(earlier, found, created=False)
    before = previous(stage)
    if before is not None and await _unlocked(session, user_id, content_id, before) is None:
        raise PreviousStageLocked(details={"content_id": content_id, "stage": before.value})
    who = await member(session, user_id)
    if who.vip_tier < found.min_vip_tier or not rank_reaches(who.rank, found.min_rank):
        raise TierTooLow(
            details={"min_vip_tier": found.min_vip_tier, "min_rank": found.min_rank.value}
        )
    record = await session.scalar(
        insert(Unlock)
        .values(
            user_id=user_id,
            content_id=content_id,
            stage=stage.value,
            price_coins=found.price_coins,
            verification=verified.reference,
            unlocked_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Unlock)
    )
    if record is None:  # a concurrent unlock of the same stage committed first
        twin = await _unlocked(session, user_id, content_id, stage)
        assert twin is not None
        return Unlocked(twin, found, created=False)
    await _pay(session, record, now)
    return Unlocked(record, found, created=True)


# the table of contents


@dataclass(frozen=True)
class ContentView:
    """A content as one member sees it: every stage's terms, bodies of unlocked ones only."""

    content: UnlockContent
    stages: Sequence[UnlockStage]
    unlocked: frozenset[str]


async def contents(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[ContentView]:
    """A page of contents (by id) as the member sees them."""
    found = await paginate(
        session,
        select(UnlockContent),
        page,
        keys=(UnlockContent.content_id,),
        item=as_fetched,
    )
    ids = [content.content_id for content in found.items]
    stages = (
        await session.scalars(select(UnlockStage).where(UnlockStage.content_id.in_(ids)))
    ).all()
    rows = await session.execute(
        select(Unlock.content_id, Unlock.stage).where(
            Unlock.user_id == user_id, Unlock.content_id.in_(ids)
        )
    )
    unlocked: dict[str, set[str]] = {}
    for content_id, stage in rows:
        unlocked.setdefault(content_id, set()).add(stage)
    order = {stage.value: position for position, stage in enumerate(Stage)}
    return found.map(
        lambda content: ContentView(
            content,
            sorted(
                (s for s in stages if s.content_id == content.content_id),
                key=lambda s: order[s.stage],
            ),
            frozenset(unlocked.get(content.content_id, ())),
        )
    )
