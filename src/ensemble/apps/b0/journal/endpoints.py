"""B0 diary and questionnaire routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ensemble.apps.b0.auth import UserRow
from ensemble.apps.b0.journal import service
from ensemble.apps.b0.schemas import (
    PREFIX,
    USER,
    USER_INPUT,
    AnswerCreate,
    AnswerPublic,
    DiaryCreate,
    DiaryPublic,
    QuestionPublic,
    errors,
)
from ensemble.apps.b0.settings import B0Dep
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX, tags=["journal"])


@router.post(
    "/diaries",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*USER_INPUT, (409, "Today's diary is written (`diary_exists`)")),
)
async def write_diary(
    body: DiaryCreate, user: UserRow, session: SessionDep, b0: B0Dep
) -> DiaryPublic:
    """Today's diary (one per local day); earns points once."""
    diary = await service.write_diary(session, user, body, b0.settings.timezone)
    return DiaryPublic.model_validate(diary)


@router.get("/diaries", responses=errors(*USER_INPUT))
async def list_diaries(user: UserRow, session: SessionDep, page: PageDep) -> Page[DiaryPublic]:
    return (await service.diaries(session, user, page)).map(DiaryPublic.model_validate)


@router.get("/diaries/{diary_id}", responses=errors(*USER_INPUT))
async def read_diary(diary_id: uuid.UUID, user: UserRow, session: SessionDep) -> DiaryPublic:
    return DiaryPublic.model_validate(await service.diary(session, user, diary_id))


@router.get("/questionnaires", responses=errors(*USER))
async def list_questions(user: UserRow, session: SessionDep) -> Page[QuestionPublic]:
    items = [
        QuestionPublic.model_validate(Extended(question, my_answer=answer))
        for question, answer in await service.questions(session, user)
    ]
    return Page[QuestionPublic](items=items, next_cursor=None)


@router.post(
    "/questionnaires/{question_id}/answer",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*USER_INPUT, (409, "Answered before (`already_answered`)")),
)
async def answer_question(
    question_id: uuid.UUID, body: AnswerCreate, user: UserRow, session: SessionDep
) -> AnswerPublic:
    """Answer once; earns points once."""
    return AnswerPublic.model_validate(await service.answer(session, user, question_id, body))
