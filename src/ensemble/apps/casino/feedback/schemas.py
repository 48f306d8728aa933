"""Feedback's response body."""

from __future__ import annotations

from pydantic import Field

from ensemble.apps.casino.feedback.domain import Occasion
from ensemble.kernel.schemas import ResponseModel


class FeedbackPublic(ResponseModel):
    message: str
    animation: str = Field(description="The client's animation key")
    occasion: Occasion = Field(description="What the context made of it (streak, win, …)")
    variant: int = Field(description="Which variant: the same for you all day (UTC)")
