"""Feedback: the message and animation for a member's action, from the catalogue, in the
context of their streak and their last hand. Reads only. Never commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.models import ActionType
from ensemble.apps.casino.actions.service import UnknownActionType
from ensemble.apps.casino.domain import COINS, GameType
from ensemble.apps.casino.feedback import domain
from ensemble.apps.casino.feedback.domain import Feedback
from ensemble.apps.casino.models import Hand
from ensemble.apps.casino.rewards import service as rewards

HAND_ACTIONS = {"SLOT_SPIN": GameType.SLOT, "GACHA_SPIN": GameType.GACHA}
"""The actions whose outcome is the member's last hand of that game."""
RARE_TIER = "SSR"


async def _last_hand(
    session: AsyncSession, user_id: uuid.UUID, game: GameType, now: datetime
) -> Hand | None:
    """The member's hand of `game` played in the last `RECENT_MINUTES`, the newest."""
    since = now - timedelta(minutes=domain.RECENT_MINUTES)
    found: Hand | None = await session.scalar(
        select(Hand)
        .where(Hand.user_id == user_id, Hand.game_type == game, Hand.played_at > since)
        .order_by(Hand.played_at.desc())
        .limit(1)
    )
    return found


async def feedback(
    session: AsyncSession, user_id: uuid.UUID, action_type: str, now: datetime
) -> Feedback:
    """What to show after an action of `action_type` (422 `unknown_action_type`)."""
    if await session.get(ActionType, action_type) is None:
        raise UnknownActionType(details={"action_type": action_type})
    streak = await rewards.current_streak(session, user_id, now=now)
    win, rare = None, False
    if (game := HAND_ACTIONS.get(action_type)) is not None:
        hand = await _last_hand(session, user_id, game, now)
        if hand is not None and hand.currency == COINS and game is GameType.SLOT:
            win = hand.net
        if hand is not None and game is GameType.GACHA:
            rare = any(pull.get("tier") == RARE_TIER for pull in hand.outcome.get("pulls", []))
    found = domain.occasion(streak=streak, win=win, rare_pull=rare)
    return domain.pick(action_type, found, user_id, now.date(), streak=streak, win=win or 0)
