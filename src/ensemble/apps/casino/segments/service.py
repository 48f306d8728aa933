"""Segments use cases: members' daily figures (from action and purchase events, or rebuilt),
the RFM run (full or incremental), personalized recommendations and their rules, the
self-check quiz. Never commit.

An incremental RFM run scores only the members whose figures changed since the last run
(`segment_dirty`, filled by the consumer in the event's transaction), those with a day that
left the rolling window since the last run's day, and those whose days since last activity
crossed a recency cut since then; anyone else would score exactly as before, so the result
equals a full run over the same figures (`test_segments_rfm`). A run takes a transaction-wide
advisory lock: two runs never interleave.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.events import ActionRecorded
from ensemble.apps.casino.segments import repository
from ensemble.apps.casino.segments.domain import (
    SUGGESTIONS,
    Motivation,
    OfferKind,
    RfmRules,
    RiskLevel,
    RuleSegment,
    play_style,
    reduces_pressure,
    risk_level,
)
from ensemble.apps.casino.segments.models import (
    MemberRisk,
    QuizResult,
    RecommendationRule,
    UserSegment,
)
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate

# daily figures


async def add_action(session: AsyncSession, action: ActionRecorded) -> None:
    """Add one action (and the hand it names, if any) to its member's day."""
    await session.execute(
        text(repository.ADD_ACTION),
        {
            "user_id": action.user_id,
            "action_type": action.action_type,
            "context": json.dumps(action.context),
            "at": action.occurred_at,
        },
    )


async def add_purchase(session: AsyncSession, purchase_id: uuid.UUID) -> None:
    """Add a fulfilled purchase (as stored) to its member's day."""
    await session.execute(text(repository.ADD_PURCHASE), {"purchase_id": purchase_id})


async def rebuild_aggregates(session: AsyncSession) -> int:
    """Recompute every member's days from all actions and purchases (after a bulk load, or to
    repair); how many days. Run it with the consumer stopped (events it handles meanwhile
    would count twice), then a full RFM run."""
    await session.execute(text("TRUNCATE casino.member_days, casino.segment_dirty"))
    written = await session.execute(text(repository.REBUILD))
    return int(getattr(written, "rowcount", 0))


# the RFM run


def rules_of(settings: CasinoSettings) -> RfmRules:
    return RfmRules(
        window_days=settings.rfm_window_days,
        recency_days=settings.rfm_recency_days,
        frequency_days=settings.rfm_frequency_days,
        monetary_cents=settings.rfm_monetary_cents,
    )


@dataclass(frozen=True)
class RfmReport:
    as_of: date
    full: bool
    touched: int
    """Members scored."""
    changed: int
    """Members whose scores or figures changed."""
    moved: int
    """Members who changed group (history rows written)."""


async def run_rfm(
    session: AsyncSession, rules: RfmRules, *, now: datetime, full: bool = False
) -> RfmReport:
    """Score members as of `now`'s UTC day: everyone with figures (`full`, or when there was
    no run before, or the day went back), else incrementally (see the module)."""
    await session.execute(text(repository.LOCK))
    as_of = now.date()
    last: date | None = await session.scalar(text(repository.LAST_AS_OF))
    full = full or last is None or last > as_of
    params = {"as_of": as_of, "window_start": rules.window_start(as_of), "now": now}
    if full:
        await session.execute(text(repository.CLEAR_DIRTY))
    else:
        assert last is not None
        await session.execute(text(repository.TARGETS_TABLE))
        await session.execute(
            text(repository.TARGETS),
            {
                "old_start": rules.window_start(last),
                "new_start": rules.window_start(as_of),
                "cuts": list(rules.recency_days),
                "old_as_of": last,
                "as_of": as_of,
            },
        )
    counts = (await session.execute(text(repository.score(rules, targeted=not full)), params)).one()
    report = RfmReport(as_of, full, counts.scored, counts.changed, counts.moved)
    await session.execute(
        text(repository.RECORD_RUN),
        {**params, "full": full, "touched": report.touched, "changed": report.changed,
         "started_at": now},
    )  # fmt: skip
    return report


async def segment_of(session: AsyncSession, user_id: uuid.UUID) -> UserSegment | None:
    return await session.get(UserSegment, user_id)


# recommendations


class RuleNotFound(NotFound):
    code = "rule_not_found"
    message = "No such recommendation rule."


class RuleExists(Conflict):
    code = "rule_exists"
    message = "This segment already has this offer."


class UnknownOffer(InvalidInput):
    code = "unknown_offer"
    message = "No such product or banner."


@dataclass(frozen=True)
class Personalized:
    segment: UserSegment | None
    risk_level: RiskLevel | None
    offers: Sequence[RecommendationRule]


async def risk_of(session: AsyncSession, user_id: uuid.UUID) -> RiskLevel | None:
    return await session.scalar(select(MemberRisk.risk_level).where(MemberRisk.user_id == user_id))


async def personalized(session: AsyncSession, user_id: uuid.UUID) -> Personalized:
    """The member's ranked offers: their segment's rules (`DEFAULT`'s without a segment). A
    member whose self-check asked for less pressure gets the `SAFER_PLAY` suggestions first
    and nothing promotional."""
    segment = await segment_of(session, user_id)
    risk = await risk_of(session, user_id)
    calm = risk is not None and reduces_pressure(risk)
    own = RuleSegment(segment.rfm_group.value) if segment else RuleSegment.DEFAULT
    wanted = [RuleSegment.SAFER_PLAY, own] if calm else [own]
    query = select(RecommendationRule).where(RecommendationRule.segment.in_(wanted))
    if calm:
        query = query.where(RecommendationRule.promotional.is_(False))
    rules = (await session.scalars(query)).all()
    offers = sorted(rules, key=lambda rule: (wanted.index(rule.segment), rule.rank, rule.ref))
    return Personalized(segment, risk, offers)


async def rules(
    session: AsyncSession, page: PageRequest, *, segment: RuleSegment | None
) -> Page[RecommendationRule]:
    query = select(RecommendationRule)
    if segment is not None:
        query = query.where(RecommendationRule.segment == segment)
    return await paginate(session, query, page, keys=(RecommendationRule.id,), item=as_fetched)


async def rule(session: AsyncSession, rule_id: uuid.UUID) -> RecommendationRule:
    found = await session.get(RecommendationRule, rule_id)
    if found is None:
        raise RuleNotFound(details={"rule_id": str(rule_id)})
    return found


_OFFER_TABLES = {OfferKind.PRODUCT: "casino.products", OfferKind.BANNER: "casino.gacha_banners"}
_OFFER_KEYS = {OfferKind.PRODUCT: "product_id", OfferKind.BANNER: "banner_id"}


async def _check_offer(session: AsyncSession, kind: OfferKind, ref: str) -> None:
    """A product or banner offer must name one that exists (422 `unknown_offer`); missions
    and limit suggestions are keys the client knows."""
    if kind not in _OFFER_TABLES:
        return
    found = await session.scalar(
        text(f"SELECT 1 FROM {_OFFER_TABLES[kind]} WHERE {_OFFER_KEYS[kind]} = :ref"),
        {"ref": ref},
    )
    if found is None:
        raise UnknownOffer(details={"kind": kind.value, "ref": ref})


async def add_rule(session: AsyncSession, values: dict[str, object]) -> RecommendationRule:
    """A new rule (409 `rule_exists` for the same segment, kind and ref)."""
    await _check_offer(session, OfferKind(str(values["kind"])), str(values["ref"]))
    added: RecommendationRule | None = await session.scalar(
        insert(RecommendationRule)
        .values(id=new_id(), updated_at=utcnow(), **values)
        .on_conflict_do_nothing()
        .returning(RecommendationRule)
    )
    if added is None:
        raise RuleExists(details={key: str(values[key]) for key in ("segment", "kind", "ref")})
    return added


async def change_rule(
    session: AsyncSession, rule_id: uuid.UUID, changes: dict[str, object]
) -> RecommendationRule:
    found = await rule(session, rule_id)
    for key, value in changes.items():
        setattr(found, key, value)
    if found.kind is OfferKind.LIMIT and found.promotional:
        raise InvalidInput(details={"promotional": "a limit suggestion is never promotional"})
    await _check_offer(session, found.kind, found.ref)
    found.updated_at = utcnow()
    clash = await session.scalar(
        select(RecommendationRule.id).where(
            RecommendationRule.segment == found.segment,
            RecommendationRule.kind == found.kind,
            RecommendationRule.ref == found.ref,
            RecommendationRule.id != rule_id,
        )
    )
    if clash is not None:
        raise RuleExists(details={"rule_id": str(clash)})
    await session.flush()
    return found


async def remove_rule(session: AsyncSession, rule_id: uuid.UUID) -> None:
    removed = await session.scalar(
        delete(RecommendationRule)
        .where(RecommendationRule.id == rule_id)
        .returning(RecommendationRule.id)
    )
    if removed is None:
        raise RuleNotFound(details={"rule_id": str(rule_id)})


# the quiz


class ConsentRequired(InvalidInput):
    code = "consent_required"
    message = "The quiz is stored only with your explicit consent."


class QuizNotTaken(NotFound):
    code = "quiz_not_taken"
    message = "You have not taken the quiz."


@dataclass(frozen=True)
class QuizOutcome:
    result: QuizResult
    suggestions: tuple[str, ...]


async def submit_quiz(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    consent: bool,
    survey: dict[str, str],
    self_check: list[int],
    now: datetime,
) -> QuizOutcome:
    """Store a quiz taken with consent (422 `consent_required`): the play style, the
    self-check's score and risk level, which becomes the member's current level."""
    if not consent:
        raise ConsentRequired()
    score = sum(self_check)
    result = QuizResult(
        id=new_id(),
        user_id=user_id,
        survey=survey,
        self_check=self_check,
        play_style=play_style(Motivation(survey["motivation"])),
        risk_score=score,
        risk_level=risk_level(score),
        created_at=now,
    )
    session.add(result)
    await session.flush()
    current = {"risk_level": result.risk_level, "quiz_id": result.id, "updated_at": now}
    await session.execute(
        insert(MemberRisk)
        .values(user_id=user_id, **current)
        .on_conflict_do_update(index_elements=[MemberRisk.user_id], set_=current)
    )
    return QuizOutcome(result, SUGGESTIONS[result.risk_level])


async def last_quiz(session: AsyncSession, user_id: uuid.UUID) -> QuizOutcome:
    found = await session.scalar(
        select(QuizResult)
        .where(QuizResult.user_id == user_id)
        .order_by(QuizResult.id.desc())
        .limit(1)
    )
    if found is None:
        raise QuizNotTaken()
    return QuizOutcome(found, SUGGESTIONS[found.risk_level])
