"""Moderation queries: whether a reported target exists, and reports."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.community.models import Comment, Post
from ensemble.apps.focus.messages.models import Message
from ensemble.apps.focus.models import Room, User
from ensemble.apps.focus.moderation.models import OPEN_ONLY, Report, ReportStatus, TargetType
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest

_TARGETS: dict[TargetType, Callable[[uuid.UUID], ColumnElement[bool]]] = {
    TargetType.USER: lambda id: User.account_id == id,
    TargetType.POST: lambda id: and_(Post.id == id, Post.deleted_at.is_(None)),
    TargetType.COMMENT: lambda id: and_(Comment.id == id, Comment.deleted_at.is_(None)),
    TargetType.ROOM: lambda id: and_(Room.id == id, Room.deleted_at.is_(None)),
    TargetType.MESSAGE: lambda id: Message.id == id,
}
"""The row a target of each type is, while it can be reported."""


async def target_exists(session: AsyncSession, kind: TargetType, target_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(_TARGETS[kind](target_id)))))


class Reports(Repository[Report]):
    async def open_once(
        self,
        session: AsyncSession,
        reporter_id: uuid.UUID,
        kind: TargetType,
        target_id: uuid.UUID,
        reason: str,
    ) -> tuple[Report, bool]:
        """The reporter's open report of the target: a new one (True), or the one open
        already (False), also when another request is opening it right now."""
        of_target = (
            Report.reporter_id == reporter_id,
            Report.target_type == kind,
            Report.target_id == target_id,
        )
        created = await session.scalar(
            insert(Report)
            .values(
                id=new_id(),
                reporter_id=reporter_id,
                target_type=kind,
                target_id=target_id,
                reason=reason,
                status=ReportStatus.OPEN,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=["reporter_id", "target_type", "target_id"],
                index_where=OPEN_ONLY,
            )
            .returning(Report)
        )
        if created is not None:
            return created, True
        stmt = self.select().where(*of_target, Report.status == ReportStatus.OPEN)
        return (await session.scalars(stmt)).one(), False

    async def page_by_status(
        self, session: AsyncSession, status: ReportStatus | None, page: PageRequest
    ) -> Page[Report]:
        """Reports newest first, of one status or all."""
        stmt = self.select() if status is None else self.select().where(Report.status == status)
        return await self.page(session, stmt, page, (Report.id,), descending=True)

    async def resolve(
        self, session: AsyncSession, report_id: uuid.UUID, by: uuid.UUID, resolution: str | None
    ) -> Report | None:
        """Resolve an open report (once, whoever races); None if it is not open."""
        stmt = (
            update(Report)
            .where(Report.id == report_id, Report.status == ReportStatus.OPEN)
            .values(
                status=ReportStatus.RESOLVED,
                resolved_at=utcnow(),
                resolved_by=by,
                resolution=resolution,
            )
            .returning(Report)
            .execution_options(populate_existing=True)
        )
        return (await session.scalars(stmt)).one_or_none()


reports = Reports(Report)
