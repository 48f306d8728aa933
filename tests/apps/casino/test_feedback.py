"""Feedback: a message and animation from the catalogue, the same for a member all day,
chosen by context (a week-long streak, a win, a big win, an SSR pull); 422 for unknown or
malformed action types."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import update

from ensemble.apps.casino.domain import GameType
from ensemble.apps.casino.feedback.domain import CATALOGUE, GENERIC, Occasion, occasion, pick
from ensemble.apps.casino.rewards.models import Streak
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error
from tests.apps.casino.activity import Play, add_hands, hand_of
from tests.apps.casino.conftest import API, CasinoWorld, Member


def test_the_occasion_and_a_variant_stable_per_member_and_day() -> None:
    assert occasion(streak=9, win=None, rare_pull=False) is Occasion.STREAK
    assert occasion(streak=9, win=5, rare_pull=False) is Occasion.WIN
    assert occasion(streak=1, win=1000, rare_pull=False) is Occasion.BIG_WIN
    assert occasion(streak=1, win=None, rare_pull=True) is Occasion.BIG_WIN
    assert occasion(streak=6, win=0, rare_pull=False) is Occasion.DEFAULT
    day = date(2026, 12, 8)
    members = [uuid.UUID(int=n) for n in range(40)]
    chosen = [pick("LOGIN", Occasion.DEFAULT, m, day, streak=1, win=0) for m in members]
    assert chosen == [pick("LOGIN", Occasion.DEFAULT, m, day, streak=1, win=0) for m in members]
    assert {each.variant for each in chosen} == set(
        range(len(CATALOGUE["LOGIN"][Occasion.DEFAULT]))
    )
    # an occasion the type has no variants for falls back to its default; unknown types to *
    fallback = pick("SHOP_PURCHASE", Occasion.STREAK, members[0], day, streak=8, win=0)
    assert fallback.occasion is Occasion.DEFAULT
    generic = pick("PAGE_VIEW", Occasion.DEFAULT, members[0], day, streak=1, win=0)
    assert generic.message in {v.message for v in CATALOGUE[GENERIC][Occasion.DEFAULT]}


async def feedback(casino: CasinoWorld, member: Member, action_type: str) -> dict[str, object]:
    answer = await casino.client.get(
        f"{API}/feedback", params={"action_type": action_type}, headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


async def test_a_week_long_streak_picks_a_streak_variant(casino: CasinoWorld) -> None:
    member = await casino.member()
    first = await feedback(casino, member, "LOGIN")
    assert first["occasion"] == "default"
    assert await feedback(casino, member, "LOGIN") == first  # the same all day
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(Streak).where(Streak.user_id == member.user_id).values(current=8, longest=8)
        )
    streak = await feedback(casino, member, "LOGIN")
    assert streak["occasion"] == "streak"
    assert "8" in str(streak["message"])


async def test_the_last_hand_picks_a_win_or_big_win_variant(casino: CasinoWorld) -> None:
    member = await casino.member()
    assert (await feedback(casino, member, "SLOT_SPIN"))["occasion"] == "default"
    now = utcnow()
    await add_hands(casino.database, [Play(member.user_id, 10, 50, now - timedelta(minutes=1))])
    win = await feedback(casino, member, "SLOT_SPIN")
    assert (win["occasion"], "40" in str(win["message"])) == ("win", True)
    await add_hands(casino.database, [Play(member.user_id, 10, 2010, now)])
    assert (await feedback(casino, member, "SLOT_SPIN"))["occasion"] == "big_win"
    pull = hand_of(Play(member.user_id, 10, 0, now, game_type=GameType.GACHA))
    pull.outcome = {"pulls": [{"tier": "R"}, {"tier": "SSR"}]}
    async with casino.database.unit_of_work() as session:
        session.add(pull)
    assert (await feedback(casino, member, "GACHA_SPIN"))["occasion"] == "big_win"


async def test_unknown_or_malformed_action_types_are_422(casino: CasinoWorld) -> None:
    member = await casino.member()
    for params, code in (
        ({"action_type": "NO_SUCH_TYPE"}, "unknown_action_type"),
        ({"action_type": "bad type!"}, "validation_error"),
        ({}, "validation_error"),
    ):
        answer = await casino.client.get(f"{API}/feedback", params=params, headers=member.headers)
        assert_error(answer, 422, code)
