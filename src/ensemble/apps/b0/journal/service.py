"""Diaries (one per local day) and questionnaire answers (one per question): points once each."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0 import repository, service
from ensemble.apps.b0.domain import DIARY_REWARD, QUESTIONNAIRE_REWARD, Reason, local_day
from ensemble.apps.b0.models import Answer, Diary, Question, User
from ensemble.apps.b0.schemas import AnswerCreate, DiaryCreate
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict, NotFound
from ensemble.kernel.pagination import Page, PageRequest

Row = TypeVar("Row", Diary, Answer)


async def _insert_once(
    session: AsyncSession, model: type[Row], unique: list[str], conflict: Conflict, **values: Any
) -> Row:
    """Insert a row unless one with the same `unique` key exists (or is being inserted):
    then `conflict`."""
    row = await repository.insert_once(session, model, unique, **values)
    if row is None:
        raise conflict
    return row


async def write_diary(session: AsyncSession, user: User, data: DiaryCreate, timezone: str) -> Diary:
    today = local_day(utcnow(), timezone)
    diary = await _insert_once(
        session, Diary, ["user_id", "diary_date"],
        Conflict("You already wrote today's diary.", code="diary_exists"),
        user_id=user.id, diary_date=today, **data.model_dump(),
    )  # fmt: skip
    await service.earn(
        session, user.id, DIARY_REWARD, Reason.DIARY,
        key=f"diary:{today.isoformat()}", reference=("DIARY", diary.id),
    )  # fmt: skip
    return diary


async def diaries(session: AsyncSession, user: User, page: PageRequest) -> Page[Diary]:
    return await repository.diaries.page_of(session, user.id, page)


async def diary(session: AsyncSession, user: User, diary_id: uuid.UUID) -> Diary:
    missing = NotFound("The diary does not exist.", code="diary_not_found")
    return await repository.diaries.get_or_404(
        session, diary_id, missing, visible=lambda found: found.user_id == user.id
    )


async def questions(session: AsyncSession, user: User) -> list[tuple[Question, str | None]]:
    """Active questions in order, each with the caller's answer if there is one."""
    return await repository.questions_with_answers(session, user.id)


async def answer(
    session: AsyncSession, user: User, question_id: uuid.UUID, data: AnswerCreate
) -> Answer:
    missing = NotFound("The question does not exist.", code="question_not_found")
    await repository.questions.get_or_404(
        session, question_id, missing, visible=lambda question: question.is_active
    )
    reply = await _insert_once(
        session, Answer, ["user_id", "question_id"],
        Conflict("You already answered this question.", code="already_answered"),
        user_id=user.id, question_id=question_id, content=data.content,
    )  # fmt: skip
    await service.earn(
        session, user.id, QUESTIONNAIRE_REWARD, Reason.QUESTIONNAIRE,
        key=f"questionnaire:{question_id}", reference=("QUESTION", question_id),
    )  # fmt: skip
    return reply
