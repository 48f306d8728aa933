"""`GET /api/feedback`: the message and animation to show after an action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.casino.actions.domain import ACTION_TYPE_PATTERN
from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.feedback import service
from ensemble.apps.casino.feedback.schemas import FeedbackPublic
from ensemble.apps.casino.schemas import PREFIX, errors
from ensemble.kernel.db import SessionDep, utcnow

router = APIRouter(prefix=PREFIX, tags=["feedback"])


@router.get(
    "/feedback",
    responses=errors(401, (422, "`validation_error`, `unknown_action_type`")),
)
async def feedback(
    action_type: Annotated[str, Query(pattern=ACTION_TYPE_PATTERN)],
    user: CurrentUser,
    session: SessionDep,
) -> FeedbackPublic:
    """A message and an animation key for your action, from a catalogue with variants:
    a login streak of 7 days or more, a win, a big win (1,000 coins, or an SSR pull) each
    have theirs. The variant is the same for you all day."""
    found = await service.feedback(session, user.account_id, action_type, utcnow())
    return FeedbackPublic.model_validate(found)
