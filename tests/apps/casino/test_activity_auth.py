"""Every activity route answers 401 without a valid token (and writes nothing), and the
admin one 403 below ADMIN (in `test_actions`)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from ensemble.apps.casino.actions.models import Action, ActionType
from ensemble.apps.casino.sessions.models import GameSession
from tests.apicheck import assert_error, bearer
from tests.apps.casino.conftest import API, CasinoWorld

SOMEONE = uuid.uuid4()
ROUTES = [
    ("POST", f"{API}/actions", {"action_type": "LOGIN"}),
    ("GET", f"{API}/actions/me", None),
    ("GET", f"{API}/action-types", None),
    ("POST", f"{API}/admin/action-types", {"code": "NEVER_ADDED"}),
    ("POST", f"{API}/games/session/start", {"game_type": "slot"}),
    ("POST", f"{API}/games/session/end", None),
    ("GET", f"{API}/games/session/current", None),
    ("GET", f"{API}/games/stats/{SOMEONE}", None),
    ("GET", f"{API}/games/leaderboard", None),
    ("GET", f"{API}/games/achievements/{SOMEONE}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_every_activity_route_needs_a_valid_token(
    casino: CasinoWorld, method: str, path: str, body: object, token: str | None
) -> None:
    headers = bearer(token) if token else {}
    answer = await casino.client.request(method, path, json=body, headers=headers)
    assert_error(answer, 401)
    async with casino.database.unit_of_work() as session:
        for table in (Action, GameSession):
            assert await session.scalar(select(func.count()).select_from(table)) == 0
        assert await session.get(ActionType, "NEVER_ADDED") is None


def test_every_activity_route_is_listed() -> None:
    from ensemble.apps.casino.achievements.endpoints import router as achievements
    from ensemble.apps.casino.actions.endpoints import router as actions
    from ensemble.apps.casino.leaderboards.endpoints import router as leaderboards
    from ensemble.apps.casino.sessions.endpoints import router as sessions

    routes = {
        (method, route.path)  # type: ignore[attr-defined]
        for router in (actions, sessions, leaderboards, achievements)
        for route in router.routes
        for method in route.methods  # type: ignore[attr-defined]
    }
    listed = {(method, path.replace(str(SOMEONE), "{user_id}")) for method, path, _ in ROUTES}
    assert routes == listed
