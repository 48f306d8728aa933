"""Game sessions (one open per member, even under concurrent starts; a second start at the
same game answers the open one, at another game ends it) and the stats read from hands and
sessions: exact numbers on known hands, periods in UTC, the public part for others."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.domain import GEMS, GameType, Period, period_label, period_start
from ensemble.apps.casino.sessions import service as sessions
from ensemble.apps.casino.sessions.models import GameSession
from tests.apicheck import assert_error
from tests.apps.casino.activity import Play, add_hands, add_session
from tests.apps.casino.conftest import API, CasinoWorld, Member

GAMES = f"{API}/games"


async def open_sessions(casino: CasinoWorld, member: Member) -> list[GameSession]:
    async with casino.database.unit_of_work() as session:
        query = select(GameSession).where(
            GameSession.user_id == member.user_id, GameSession.ended_at.is_(None)
        )
        return list(await session.scalars(query))


async def start(
    casino: CasinoWorld, member: Member, game: str = "slot"
) -> tuple[int, dict[str, Any]]:
    answer = await casino.client.post(
        f"{GAMES}/session/start", json={"game_type": game}, headers=member.headers
    )
    return answer.status_code, answer.json()


# sessions


async def test_a_session_starts_ends_and_is_current_meanwhile(casino: CasinoWorld) -> None:
    member = await casino.member()
    assert_error(
        await casino.client.get(f"{GAMES}/session/current", headers=member.headers),
        404,
        "no_open_session",
    )
    status, started = await start(casino, member)
    assert status == 201
    assert started["game_type"] == "slot"
    assert started["ended_at"] is None
    current = await casino.client.get(f"{GAMES}/session/current", headers=member.headers)
    assert current.json()["session_id"] == started["session_id"]
    async with casino.database.unit_of_work() as session:
        stamped = await sessions.current(session, member.user_id)
    assert stamped.id == uuid.UUID(started["session_id"])
    ended = await casino.client.post(f"{GAMES}/session/end", headers=member.headers)
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["session_id"] == started["session_id"]
    assert body["ended_at"] is not None
    length = datetime.fromisoformat(body["ended_at"]) - datetime.fromisoformat(body["started_at"])
    assert body["play_seconds"] == int(length.total_seconds())
    assert_error(
        await casino.client.post(f"{GAMES}/session/end", headers=member.headers),
        404,
        "no_open_session",
    )
    async with casino.database.unit_of_work() as session:
        with pytest.raises(sessions.NoOpenSession):
            await sessions.current(session, member.user_id)
        kinds = await session.scalars(
            select(Action.action_type).where(Action.user_id == member.user_id)
        )
        assert sorted(kinds) == ["SESSION_END", "SESSION_START"]


async def test_a_second_start_at_the_same_game_answers_the_open_session(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    _, first = await start(casino, member)
    status, again = await start(casino, member)
    assert (status, again["session_id"]) == (200, first["session_id"])
    assert len(await open_sessions(casino, member)) == 1


async def test_a_start_at_another_game_ends_the_open_session(casino: CasinoWorld) -> None:
    member = await casino.member()
    _, slot = await start(casino, member, "slot")
    status, gacha = await start(casino, member, "gacha")
    assert status == 201
    assert gacha["session_id"] != slot["session_id"]
    [still_open] = await open_sessions(casino, member)
    assert str(still_open.id) == gacha["session_id"]
    async with casino.database.unit_of_work() as session:
        ended = await session.get(GameSession, uuid.UUID(slot["session_id"]))
        assert ended is not None
        assert ended.ended_at is not None


@pytest.mark.parametrize("games", [["slot"] * 12, ["slot", "gacha"] * 6])
async def test_concurrent_starts_leave_one_open_session(
    casino: CasinoWorld, games: list[str]
) -> None:
    member = await casino.member()
    answers = await asyncio.gather(*(start(casino, member, game) for game in games))
    assert all(status in (200, 201) for status, _ in answers)
    [opened] = await open_sessions(casino, member)
    if len(set(games)) == 1:
        assert {body["session_id"] for _, body in answers} == {str(opened.id)}
        assert sorted(status for status, _ in answers) == [200] * 11 + [201]


async def test_members_have_their_own_sessions(casino: CasinoWorld) -> None:
    one, two = await casino.member(), await casino.member()
    await start(casino, one)
    await start(casino, two)
    assert len(await open_sessions(casino, one)) == 1
    assert len(await open_sessions(casino, two)) == 1
    await casino.client.post(f"{GAMES}/session/end", headers=one.headers)
    assert await open_sessions(casino, one) == []
    assert len(await open_sessions(casino, two)) == 1


@pytest.mark.parametrize("body", [{}, {"game_type": "poker"}, {"game_type": 1}, []])
async def test_a_bad_start_is_refused_and_writes_nothing(casino: CasinoWorld, body: object) -> None:
    member = await casino.member()
    answer = await casino.client.post(f"{GAMES}/session/start", json=body, headers=member.headers)
    assert_error(answer, 422, "validation_error")
    assert await open_sessions(casino, member) == []


# periods


def test_periods_begin_at_utc_midnight_of_the_day_monday_and_the_first() -> None:
    now = datetime(2026, 12, 10, 15, 30, tzinfo=UTC)  # a Thursday
    assert period_start(Period.DAY, now) == datetime(2026, 12, 10, tzinfo=UTC)
    assert period_start(Period.WEEK, now) == datetime(2026, 12, 7, tzinfo=UTC)
    assert period_start(Period.MONTH, now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_start(Period.ALL, now) is None
    seoul = datetime(2026, 12, 11, 2, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Seoul"))
    assert period_start(Period.DAY, seoul) == datetime(2026, 12, 11, tzinfo=UTC)
    assert period_label(Period.WEEK, now) == "week:2026-W50"
    assert period_label(Period.DAY, now) == "day:2026-12-10"
    assert period_label(Period.MONTH, now) == "month:2026-12"


# stats

NOW = datetime(2026, 12, 10, 15, 30, tzinfo=UTC)


def sequence(user_id: uuid.UUID) -> list[Play]:
    """Today: slot L W W L W W W, then two gacha pulls (100 coins each) and a gems spin; an
    older slot win this week (Monday), this month (the 2nd) and last year."""
    at = NOW - timedelta(hours=2)
    slot = [(10, 0), (10, 30), (10, 50), (10, 0), (10, 20), (10, 20), (10, 20)]
    plays = [
        Play(user_id, bet, payout, at + timedelta(minutes=n))
        for n, (bet, payout) in enumerate(slot)
    ]
    plays += [
        Play(user_id, 100, 0, at + timedelta(minutes=10 + n), GameType.GACHA) for n in range(2)
    ]
    plays.append(Play(user_id, 5, 0, at + timedelta(minutes=20), GameType.GACHA, GEMS))
    plays += [
        Play(user_id, 10, 510, datetime(2026, 12, 7, 1, tzinfo=UTC)),
        Play(user_id, 10, 110, datetime(2026, 12, 2, 1, tzinfo=UTC)),
        Play(user_id, 10, 2010, datetime(2025, 6, 1, tzinfo=UTC)),
    ]
    return plays


async def test_stats_on_known_hands(casino: CasinoWorld) -> None:
    member = await casino.member()
    await add_hands(casino.database, sequence(member.user_id))
    async with casino.database.unit_of_work() as session:
        today = await sessions.stats(session, member.user_id, period=Period.DAY, now=NOW)
        week = await sessions.stats(session, member.user_id, period=Period.WEEK, now=NOW)
        month = await sessions.stats(session, member.user_id, period=Period.MONTH, now=NOW)
        every = await sessions.stats(session, member.user_id, period=Period.ALL, now=NOW)
        slot_today = await sessions.stats(
            session, member.user_id, game_type=GameType.SLOT, period=Period.DAY, now=NOW
        )
        gacha = await sessions.stats(
            session, member.user_id, game_type=GameType.GACHA, period=Period.ALL, now=NOW
        )
    assert (today.games_played, today.wins) == (10, 5)
    assert today.net_result == 70 - 200  # the gems spin has no coin result
    assert (today.best_win, today.longest_win_streak) == (40, 3)
    assert today.favourite_game is GameType.SLOT
    assert today.win_rate == 0.5
    assert (week.games_played, week.wins, week.net_result, week.best_win) == (11, 6, 370, 500)
    assert week.longest_win_streak == 3  # Monday's win is followed by today's first loss
    assert (month.games_played, month.net_result, month.best_win) == (12, 470, 500)
    assert (every.games_played, every.net_result, every.best_win) == (13, 2470, 2000)
    assert (slot_today.games_played, slot_today.net_result) == (7, 70)
    assert slot_today.favourite_game is GameType.SLOT
    assert (gacha.games_played, gacha.wins, gacha.win_rate) == (3, 0, 0.0)
    assert gacha.favourite_game is GameType.GACHA


async def test_no_hands_no_stats(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        found = await sessions.stats(session, member.user_id, now=NOW)
    assert found == sessions.Stats(0, 0, 0, 0, 0, None, 0)
    assert found.win_rate == 0.0


async def test_play_time_counts_sessions_within_the_period(casino: CasinoWorld) -> None:
    member = await casino.member()
    day = period_start(Period.DAY, NOW)
    assert day is not None
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    for began, ended, game in [
        (day - 30 * minute, day + 10 * minute, GameType.SLOT),  # 10 minutes of it today
        (NOW - 3 * hour, NOW - 2 * hour, GameType.SLOT),
        (day - timedelta(days=3), day - timedelta(days=3) + 5 * minute, GameType.SLOT),
        (NOW - minute, None, GameType.GACHA),  # open: counts until now
    ]:
        await add_session(casino.database, member.user_id, began, ended, game)
    async with casino.database.unit_of_work() as session:
        today = await sessions.stats(session, member.user_id, period=Period.DAY, now=NOW)
        every = await sessions.stats(session, member.user_id, now=NOW)
        slot = await sessions.stats(session, member.user_id, game_type=GameType.SLOT, now=NOW)
    assert today.play_seconds == 10 * 60 + 3600 + 60
    assert every.play_seconds == 40 * 60 + 3600 + 5 * 60 + 60
    assert slot.play_seconds == 40 * 60 + 3600 + 5 * 60


async def test_your_stats_in_full_anothers_in_part(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    now = datetime.now(UTC)
    await add_hands(
        casino.database,
        [
            Play(member.user_id, 10, 30, now - timedelta(seconds=5)),
            Play(member.user_id, 10, 0, now),
        ],
    )
    mine = await casino.client.get(f"{GAMES}/stats/{member.user_id}", headers=member.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "game_type": None,
        "period": "all",
        "period_start": None,
        "games_played": 2,
        "wins": 1,
        "win_rate": 0.5,
        "favourite_game": "slot",
        "best_win": 20,
        "longest_win_streak": 1,
        "net_result": 10,
        "play_seconds": 0,
        "is_own": True,
    }
    theirs = await casino.client.get(
        f"{GAMES}/stats/{member.user_id}?period=week&game_type=slot", headers=other.headers
    )
    assert theirs.status_code == 200, theirs.text
    body = theirs.json()
    assert body["is_own"] is False
    assert "net_result" not in body
    assert "play_seconds" not in body
    assert (body["games_played"], body["wins"], body["period"]) == (2, 1, "week")
    assert body["period_start"] is not None


async def test_the_profile_shows_public_stats_from_the_hands(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    now = datetime.now(UTC)
    await add_hands(
        casino.database,
        [Play(member.user_id, 10, 30, now), Play(member.user_id, 10, 0, now)],
    )
    for caller in (member, other):
        profile = await casino.client.get(
            f"{API}/users/{member.user_id}/profile", headers=caller.headers
        )
        assert profile.json()["stats"] == {"games_played": 2, "wins": 1}


@pytest.mark.parametrize(
    "query", ["?period=year", "?game_type=poker", "?period=", "?game_type=SLOT"]
)
async def test_bad_stats_queries_are_refused(casino: CasinoWorld, query: str) -> None:
    member = await casino.member()
    answer = await casino.client.get(
        f"{GAMES}/stats/{member.user_id}{query}", headers=member.headers
    )
    assert_error(answer, 422, "validation_error")


async def test_stats_of_nobody_is_404(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await casino.client.get(f"{GAMES}/stats/{uuid.uuid4()}", headers=member.headers)
    assert_error(answer, 404, "user_not_found")
    answer = await casino.client.get(f"{GAMES}/stats/not-an-id", headers=member.headers)
    assert_error(answer, 422)
