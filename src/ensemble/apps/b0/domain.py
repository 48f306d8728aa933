"""Pure B0 rules: prices, flight times, ticket numbers, nicknames and emoji profiles."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

POINTS = "POINTS"
SIGN_UP_BONUS = 1000
DIARY_REWARD = 50
QUESTIONNAIRE_REWARD = 50
EXTEND_COST = 300
STAY_LENGTH = timedelta(hours=24)
ROOM_CAPACITY = 6


class Reason(StrEnum):
    """Point transaction reasons (the source's names)."""

    SIGN_UP = "SIGN_UP"
    DIARY = "DIARY"
    QUESTIONNAIRE = "QUESTIONNAIRE"
    TICKET = "TICKET"
    EXTEND = "EXTEND"
    REFUND = "REFUND"


def ticket_price(base_cost_points: int, cost_factor: Decimal) -> int:
    """`round(city.base_cost_points × airship.cost_factor)`, halves rounded up."""
    return int((Decimal(base_cost_points) * cost_factor).quantize(Decimal(1), ROUND_HALF_UP))


def flight_time(base_duration_hours: Decimal, duration_factor: Decimal, scale: float) -> timedelta:
    """`city.base_duration_hours × airship.duration_factor`, times `scale` (1 but in demos)."""
    return timedelta(hours=float(base_duration_hours * duration_factor) * scale)


def ticket_number(departure: datetime) -> str:
    """Human-friendly and unique enough to show: B0-YYMMDD-XXXXXX (unique in the database)."""
    return f"B0-{departure:%y%m%d}-{secrets.token_hex(3).upper()}"


def local_day(moment: datetime, timezone: str) -> date:
    """The calendar day at `moment` where the user lives (one diary per local day)."""
    return moment.astimezone(ZoneInfo(timezone)).date()


_ZWJ = "\u200d"
_MODIFIERS = {"\ufe0f", "\ufe0e", "\u20e3"}


def _is_skin_tone(char: str) -> bool:
    return 0x1F3FB <= ord(char) <= 0x1F3FF


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def is_single_emoji(value: str) -> bool:
    """Exactly one emoji as a person sees it: a pictograph with its modifiers, a ZWJ family
    (👩‍💻) or a flag (two regional indicators)."""
    if not value or len(value) > 16:
        return False
    emojis, after_joiner, half_flag = 0, False, False
    for char in value:
        if char == _ZWJ:
            after_joiner = True
        elif char in _MODIFIERS or _is_skin_tone(char):
            continue
        elif _is_regional_indicator(char):
            emojis += 0 if half_flag else 1
            half_flag = not half_flag
        elif unicodedata.category(char) == "So":
            emojis += 0 if after_joiner else 1
            after_joiner = False
        else:
            return False
    return emojis == 1
