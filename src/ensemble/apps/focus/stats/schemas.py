"""Sessions and stats: request and response bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from ensemble.apps.focus.schemas import Strict
from ensemble.apps.focus.stats.domain import Day, Period, Stats, Totals
from ensemble.kernel.schemas import Extended, ResponseModel, RowId

GOAL_MAX = 200
Goal = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=GOAL_MAX, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
"""A goal: 1-200 characters once trimmed, on one line."""


class SessionPublic(ResponseModel):
    """One of your focus sessions: open while `ended_at` is null."""

    session_id: RowId
    room_id: uuid.UUID
    started_at: datetime
    ended_at: datetime | None
    focus_seconds: int | None
    completed: bool | None
    interrupted_reason: str | None = Field(
        description="`skipped`, `reset`, `left`, `room_deleted`; null when completed or open"
    )
    goal: str | None
    goal_done: bool | None


class SessionUpdate(Strict):
    """The fields to change (at least one). `goal`: set while the session is open (null
    clears it and its done mark). `goal_done`: while the session is open or after it ended,
    once it has a goal."""

    goal: Goal | None = Field(default=None, description="Omitted: left as it is")
    goal_done: bool = Field(default=False, description="Omitted: left as it is")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Give `goal`, `goal_done` or both.")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TotalsPublic(ResponseModel):
    focus_seconds: int
    focus_minutes: int = Field(description="`focus_seconds` in whole minutes")
    sessions: int = Field(description="Closed sessions (by the local day they started on)")
    completed_sessions: int


class DayStats(TotalsPublic):
    """One local day."""

    date: date

    @classmethod
    def of(cls, day: Day) -> DayStats:
        return cls.model_validate(Extended(day.totals, date=day.date))


class StatsPublic(TotalsPublic):
    """Your totals over a period of local days, day by day, and your streaks (over all
    time): consecutive local days with at least one completed session."""

    period: Period
    tz: str = Field(description="The IANA time zone the days are counted in")
    first_day: date
    last_day: date
    starts_at: datetime = Field(description="The instant the first day starts")
    ends_at: datetime = Field(description="The instant after the last day")
    completion_rate: float | None = Field(
        description="completed / closed sessions, null when there are none"
    )
    current_streak: int = Field(description="The streak ending today or yesterday, else 0")
    longest_streak: int
    days: list[DayStats] = Field(description="Every day of the period, oldest first")

    @classmethod
    def of(cls, stats: Stats) -> StatsPublic:
        totals: Totals = stats.totals
        window = stats.window
        return cls.model_validate(
            Extended(
                totals,
                period=stats.period,
                tz=window.tz.key,
                first_day=window.first,
                last_day=window.last,
                starts_at=window.starts_at,
                ends_at=window.ends_at,
                current_streak=stats.current_streak,
                longest_streak=stats.longest_streak,
                days=[DayStats.of(day) for day in stats.days],
            )
        )
