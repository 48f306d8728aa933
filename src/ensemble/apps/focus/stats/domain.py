"""Stats' pure rules: the local days a period covers, and when a streak is still alive.

Days are the user's local days in their IANA time zone, so a day lasts 23, 24 or 25 hours: a
period's bounds are local midnights turned into instants by `ZoneInfo`, with the offset in
force on each (DST included). A session belongs to the local day it started on, even when it
runs past midnight (its minutes and its completion alike). Weeks start on Monday (ISO 8601).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_ZONE = "UTC"


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@cache
def zone_names() -> frozenset[str]:
    """The IANA zone names this process knows (PostgreSQL's zone database has them too)."""
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone `name`, or None when there is no such zone."""
    return ZoneInfo(name) if name in zone_names() else None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` starts in `tz` (where midnight is skipped by a DST change, the first
    instant of the day: the offset before the change applies)."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A period's local days, `first` to `last` inclusive, in `tz`."""

    first: date
    last: date
    tz: ZoneInfo

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def starts_at(self) -> datetime:
        return local_midnight(self.first, self.tz)

    @property
    def ends_at(self) -> datetime:
        """The instant after the period (the next day's local midnight)."""
        return local_midnight(self.last + timedelta(days=1), self.tz)


def window(period: Period, day: date, tz: ZoneInfo) -> Window:
    """The period of kind `period` that holds local `day`: that day, its Monday-to-Sunday
    week, or its calendar month."""
    if period is Period.DAY:
        return Window(day, day, tz)
    if period is Period.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Window(monday, monday + timedelta(days=6), tz)
    first = day.replace(day=1)
    following = (first + timedelta(days=31)).replace(day=1)
    return Window(first, following - timedelta(days=1), tz)


def streak_alive_since(today: date) -> date:
    """A current streak counts while its last day is today or yesterday: today's session may
    still come, so the streak breaks only once a whole local day passes without one."""
    return today - timedelta(days=1)


@dataclass(frozen=True)
class Totals:
    """Closed sessions, the completed ones among them, and their focus time."""

    sessions: int = 0
    completed_sessions: int = 0
    focus_seconds: int = 0

    @property
    def focus_minutes(self) -> int:
        return self.focus_seconds // 60

    @property
    def completion_rate(self) -> float | None:
        """Completed / closed sessions (None without any)."""
        return round(self.completed_sessions / self.sessions, 4) if self.sessions else None

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.sessions + other.sessions,
            self.completed_sessions + other.completed_sessions,
            self.focus_seconds + other.focus_seconds,
        )


@dataclass(frozen=True)
class Day:
    date: date
    totals: Totals


@dataclass(frozen=True)
class Stats:
    """A user's totals over a period's local days, day by day, and their streaks."""

    period: Period
    window: Window
    days: list[Day]
    current_streak: int
    longest_streak: int

    @property
    def totals(self) -> Totals:
        return sum((day.totals for day in self.days), Totals())
