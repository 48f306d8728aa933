"""`POST /api/actions` (grouped commits), `GET /api/actions/me`, the action types and their
admin extension."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import ValidationError

from ensemble.apps.casino.actions import service as actions
from ensemble.apps.casino.actions.domain import ACTION_TYPE_PATTERN
from ensemble.apps.casino.actions.schemas import (
    ActionPublic,
    ActionRequest,
    ActionTypeCreate,
    ActionTypePublic,
)
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin, CurrentUser, principal_of
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.apps.casino.settings import CASINO, CasinoDep, CasinoResources
from ensemble.kernel.db import Database, SessionDep
from ensemble.kernel.db.session import get_database
from ensemble.kernel.direct import DirectRoute, bearer_credentials, sends_json
from ensemble.kernel.errors import AppError
from ensemble.kernel.identity.principal import Principal, resolve_principal
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX, tags=["actions"])

DatabaseDep = Annotated[Database, Depends(get_database)]
UNKNOWN_TYPE = (422, "Invalid input (`validation_error`), or no such action type"
                " (`unknown_action_type`)")  # fmt: skip


@router.post("/actions", status_code=status.HTTP_201_CREATED, responses=errors(401, UNKNOWN_TYPE))
async def record(
    body: ActionRequest,
    user: CurrentUser,
    session: SessionDep,
    database: DatabaseDep,
    casino: CasinoDep,
) -> ActionPublic:
    """Record an action of yours (any known type). Personal data in `context` is stripped
    first; the answer shows what was stored. Answered once the action (and its
    `casino.action` event) is committed, together with the actions other members sent at the
    same moment."""
    if session.in_transaction():
        # The caller was looked up (not in the process's auth cache): end that read now, so
        # no request holds a pooled connection while it waits for its group to commit.
        await session.commit()
    return await _recorded(casino, database, user, body)


async def _recorded(
    casino: CasinoResources, database: Database, user: Principal, body: ActionRequest
) -> ActionPublic:
    action = actions.new_action(user.account_id, body.action_type, body.context)
    await casino.actions.record(database, action)
    return ActionPublic.model_validate(action)


async def record_directly(request: Request, raw: bytes) -> Response | None:
    """`record` served before FastAPI routes the request (decision 31: its routing and
    dependency solving cost more than the action). None, so that `record` answers, for
    anything but a JSON body of a known type from a caller with a valid token."""
    token = bearer_credentials(request)
    if token is None or not sends_json(request):
        return None
    try:
        body = ActionRequest.model_validate_json(raw)
    except ValidationError:
        return None
    database: Database = request.state.database
    async with database.sessionmaker() as session:  # only for a caller not in the cache
        try:
            user = await resolve_principal(principal_of, request, session, token)
        except AppError:
            return None
    try:
        recorded = await _recorded(CASINO.of(request), database, user, body)
    except actions.UnknownActionType:  # nothing was written
        return None
    return Response(recorded.model_dump_json(), status_code=201, media_type="application/json")


DIRECT = DirectRoute("POST", f"{PREFIX}/actions", record_directly)


@router.get("/actions/me", responses=errors(*INPUT))
async def my_actions(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    action_type: Annotated[str | None, Query(pattern=ACTION_TYPE_PATTERN)] = None,
) -> Page[ActionPublic]:
    """Your actions, the newest first (of one type, if given)."""
    found = await actions.actions_of(session, user.account_id, page, action_type=action_type)
    return found.map(ActionPublic.model_validate)


@router.get("/action-types", responses=errors(*USER))
async def action_types(user: CurrentUser, session: SessionDep) -> list[ActionTypePublic]:
    """Every action type `POST /api/actions` takes."""
    return [ActionTypePublic.model_validate(each) for each in await actions.action_types(session)]


@router.post(
    "/admin/action-types",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(*INPUT, 403, (409, "The action type exists (`action_type_exists`)")),
)
async def add_action_type(
    body: ActionTypeCreate, admin: Admin, session: SessionDep
) -> ActionTypePublic:
    """Add an action type (admins only); members may record it at once."""
    added = await actions.add_action_type(
        session, body.code, body.description, admin_id=admin.account_id
    )
    await audit.record(session, admin.account_id, "action_type.create", "action_type", body.code)
    return ActionTypePublic.model_validate(added)
