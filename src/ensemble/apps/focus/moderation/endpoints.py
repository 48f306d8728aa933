"""Reports, and the moderators' routes under `/admin` (MODERATOR or ADMIN)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.focus.auth import CurrentUser, Moderator
from ensemble.apps.focus.community import service as community
from ensemble.apps.focus.community.endpoints import COMMENT_404, POST_404
from ensemble.apps.focus.moderation import service
from ensemble.apps.focus.moderation.models import ReportStatus
from ensemble.apps.focus.moderation.schemas import (
    ModeratedUser,
    ReportCreate,
    ReportPublic,
    ReportResolve,
)
from ensemble.apps.focus.schemas import INPUT, PREFIX, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX, tags=["moderation"])

MODERATORS_ONLY = (403, "Not a moderator (`role_forbidden`)")
OUTRANKED = (403, "Not a moderator, or the user's role is not below yours (`outranked`)")
USER_404 = (404, "No such user (`user_not_found`)")


@router.post(
    "/reports",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(
            *INPUT,
            (404, "Nothing to report there (`target_not_found`)"),
            (422, "Invalid input, or reporting yourself (`cannot_report_yourself`)"),
        ),
        200: {"description": "You reported this already: your open report", "model": ReportPublic},
    },
)
async def report(
    body: ReportCreate, user: CurrentUser, session: SessionDep, response: Response
) -> ReportPublic:
    """Report a user, post, comment, message or room to the moderators. While your report of
    a target is open, reporting it again answers that report (200)."""
    found, created = await service.report(session, user.account_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ReportPublic.model_validate(found)


@router.get("/admin/reports", responses=errors(*INPUT, MODERATORS_ONLY))
async def list_reports(
    moderator: Moderator,
    session: SessionDep,
    page: PageDep,
    report_status: Annotated[ReportStatus | None, Query(alias="status")] = None,
) -> Page[ReportPublic]:
    """Reports, newest first; `status` keeps the open or the resolved ones."""
    found = await service.reports_page(session, report_status, page)
    return found.map(ReportPublic.model_validate)


@router.post(
    "/admin/reports/{report_id}/resolve",
    responses=errors(*INPUT, MODERATORS_ONLY, (404, "No such report (`report_not_found`)")),
)
async def resolve_report(
    report_id: uuid.UUID, body: ReportResolve, moderator: Moderator, session: SessionDep
) -> ReportPublic:
    """Resolve a report, saying what was done; a resolved report stays as it was."""
    resolved = await service.resolve(session, moderator.account_id, report_id, body.resolution)
    return ReportPublic.model_validate(resolved)


@router.delete(
    "/admin/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*INPUT, MODERATORS_ONLY, POST_404),
)
async def remove_post(post_id: uuid.UUID, moderator: Moderator, session: SessionDep) -> None:
    """Remove anyone's post (softly)."""
    await community.delete_post(session, moderator.account_id, post_id, moderating=True)


@router.delete(
    "/admin/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*INPUT, MODERATORS_ONLY, COMMENT_404),
)
async def remove_comment(comment_id: uuid.UUID, moderator: Moderator, session: SessionDep) -> None:
    """Remove anyone's comment (softly)."""
    await community.delete_comment(session, moderator.account_id, comment_id, moderating=True)


@router.post("/admin/users/{user_id}/suspend", responses=errors(*INPUT, OUTRANKED, USER_404))
async def suspend(
    user_id: uuid.UUID, moderator: Moderator, session: SessionDep, revocations: RevocationsDep
) -> ModeratedUser:
    """Suspend a user of a lower role: their tokens are refused at once (401), they cannot
    log in, and their sessions are revoked. Suspending again changes nothing."""
    return ModeratedUser.model_validate(
        await service.suspend(session, moderator, user_id, revocations)
    )


@router.post("/admin/users/{user_id}/unsuspend", responses=errors(*INPUT, OUTRANKED, USER_404))
async def unsuspend(user_id: uuid.UUID, moderator: Moderator, session: SessionDep) -> ModeratedUser:
    """Lift a suspension: the user can log in again."""
    return ModeratedUser.model_validate(await service.unsuspend(session, moderator, user_id))
