"""Diaries (one per local day) and questionnaire answers (one per question): points once each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0 import service
from ensemble.apps.b0.domain import DIARY_REWARD, QUESTIONNAIRE_REWARD, Reason, local_day
from ensemble.apps.b0.models import Answer, Diary, Question, User
from ensemble.apps.b0.schemas import AnswerCreate, DiaryCreate
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, NotFound


async def write_diary(session: AsyncSession, user: User, data: DiaryCreate, timezone: str) -> Diary:
    today = local_day(utcnow(), timezone)
    exists = select(Diary.id).where(Diary.user_id == user.id, Diary.diary_date == today)
    if (await session.execute(exists)).first() is not None:
        raise Conflict("You already wrote today's diary.", code="diary_exists")
    diary = Diary(id=new_id(), user_id=user.id, diary_date=today, **data.model_dump())
    session.add(diary)
    await session.flush()
    await service.earn(
        session, user.id, DIARY_REWARD, Reason.DIARY,
        key=f"diary:{today.isoformat()}", reference=("DIARY", diary.id),
    )  # fmt: skip
    return diary


async def diaries(
    session: AsyncSession, user: User, before: tuple[date, uuid.UUID] | None, limit: int
) -> Sequence[Diary]:
    stmt = (
        select(Diary)
        .where(Diary.user_id == user.id)
        .order_by(Diary.diary_date.desc(), Diary.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stmt = stmt.where(func.row(Diary.diary_date, Diary.id) < func.row(*before))
    return (await session.execute(stmt)).scalars().all()


async def diary(session: AsyncSession, user: User, diary_id: uuid.UUID) -> Diary:
    found = await session.get(Diary, diary_id)
    if found is None or found.user_id != user.id:
        raise NotFound("The diary does not exist.", code="diary_not_found")
    return found


async def questions(session: AsyncSession, user: User) -> list[tuple[Question, str | None]]:
    """Active questions in order, each with the caller's answer if there is one."""
    stmt = (
        select(Question, Answer.content)
        .outerjoin(Answer, (Answer.question_id == Question.id) & (Answer.user_id == user.id))
        .where(Question.is_active.is_(True))
        .order_by(Question.display_order, Question.id)
    )
    return [(q, a) for q, a in (await session.execute(stmt)).all()]


async def answer(
    session: AsyncSession, user: User, question_id: uuid.UUID, data: AnswerCreate
) -> Answer:
    question = await session.get(Question, question_id)
    if question is None or not question.is_active:
        raise NotFound("The question does not exist.", code="question_not_found")
    exists = select(Answer.id).where(Answer.user_id == user.id, Answer.question_id == question_id)
    if (await session.execute(exists)).first() is not None:
        raise Conflict("You already answered this question.", code="already_answered")
    reply = Answer(id=new_id(), user_id=user.id, question_id=question_id, content=data.content)
    session.add(reply)
    await session.flush()
    await service.earn(
        session, user.id, QUESTIONNAIRE_REWARD, Reason.QUESTIONNAIRE,
        key=f"questionnaire:{question_id}", reference=("QUESTION", question_id),
    )  # fmt: skip
    return reply
