"""Reports (one open report per reporter and target) and what moderators do about them:
resolve reports, suspend and unsuspend users. Removing posts and comments is the
community's use case, called as a moderator. Never commit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import Role, User
from ensemble.apps.focus.moderation import repository
from ensemble.apps.focus.moderation.models import Report, ReportStatus, TargetType
from ensemble.apps.focus.moderation.schemas import ReportCreate
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Forbidden, InvalidInput, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.pagination import Page, PageRequest


class ReportNotFound(NotFound):
    code = "report_not_found"
    message = "The report does not exist."


class TargetNotFound(NotFound):
    code = "target_not_found"
    message = "There is nothing to report there."


class ReportingYourself(InvalidInput):
    code = "cannot_report_yourself"
    message = "You cannot report yourself."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "The user does not exist."


class Outranked(Forbidden):
    code = "outranked"
    message = "Only a higher role than this user's may do this."


_RANK = {Role.USER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}


async def report(
    session: AsyncSession, reporter_id: uuid.UUID, data: ReportCreate
) -> tuple[Report, bool]:
    """The reporter's open report of the target: a new one (True), or the one already open
    (False; reporting again is idempotent and keeps the first reason)."""
    if data.target_type is TargetType.USER and data.target_id == reporter_id:
        raise ReportingYourself()
    if not await repository.target_exists(session, data.target_type, data.target_id):
        raise TargetNotFound()
    return await repository.reports.open_once(
        session, reporter_id, data.target_type, data.target_id, data.reason
    )


async def reports_page(
    session: AsyncSession, status: ReportStatus | None, page: PageRequest
) -> Page[Report]:
    return await repository.reports.page_by_status(session, status, page)


async def resolve(
    session: AsyncSession, moderator_id: uuid.UUID, report_id: uuid.UUID, resolution: str | None
) -> Report:
    """Resolve a report; resolving it again changes nothing and answers it as it is."""
    resolved = await repository.reports.resolve(session, report_id, moderator_id, resolution)
    if resolved is not None:
        return resolved
    return await repository.reports.get_or_404(session, report_id, ReportNotFound())


async def _outranked_user(session: AsyncSession, caller: Principal, user_id: uuid.UUID) -> User:
    """The user, locked, if the caller's role is above theirs (403 `outranked`)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise UserNotFound()
    if _RANK[user.role] >= _RANK[Role(caller.role)]:
        raise Outranked()
    return user


async def suspend(
    session: AsyncSession, caller: Principal, user_id: uuid.UUID, revocations: Revocations
) -> User:
    """Suspend a user: every session ends at once and none can start (auth refuses them).
    Suspending them again keeps the first time."""
    user = await _outranked_user(session, caller, user_id)
    if user.suspended_at is None:
        user.suspended_at = utcnow()
    await identity.revoke_all_sessions(session, user_id, revocations)
    await session.flush()
    return user


async def unsuspend(session: AsyncSession, caller: Principal, user_id: uuid.UUID) -> User:
    user = await _outranked_user(session, caller, user_id)
    user.suspended_at = None
    await session.flush()
    return user
