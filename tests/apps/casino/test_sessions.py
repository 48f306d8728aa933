"""A member's sessions (list, revoke) and an admin's force-logout: a revoked session's
access token is refused at once."""

from __future__ import annotations

import uuid

from ensemble.apps.casino.domain import Rank
from tests.apicheck import assert_error, bearer
from tests.apps.casino.conftest import API, CasinoWorld


async def sessions_of(casino: CasinoWorld, headers: dict[str, str]) -> list[dict[str, object]]:
    response = await casino.client.get(f"{API}/auth/sessions", headers=headers)
    assert response.status_code == 200, response.text
    listed: list[dict[str, object]] = response.json()
    return listed


async def test_sessions_lists_each_login_and_marks_the_current(casino: CasinoWorld) -> None:
    member = await casino.member()  # its sign-up was a session too
    second = await casino.login(member.nickname)
    listed = await sessions_of(casino, bearer(second["access_token"]))
    assert len(listed) == 3
    assert [each["current"] for each in listed] == [True, False, False]  # the newest first
    assert set(listed[0]) == {"session_id", "started_at", "refreshed_at", "expires_at", "current"}


async def test_a_revoked_session_is_refused_at_once_and_the_others_go_on(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    other = await casino.login(member.nickname)
    other_headers = bearer(other["access_token"])
    before = [each["session_id"] for each in await sessions_of(casino, member.headers)]
    ended = next(
        each["session_id"] for each in await sessions_of(casino, other_headers) if each["current"]
    )
    path = f"{API}/auth/sessions/{ended}"
    assert (await casino.client.delete(path, headers=member.headers)).status_code == 204
    assert_error(await casino.client.get(f"{API}/auth/me", headers=other_headers), 401)
    refresh = {"refresh_token": other["refresh_token"]}
    assert_error(await casino.client.post(f"{API}/auth/refresh", json=refresh), 401)
    assert (await casino.client.get(f"{API}/auth/me", headers=member.headers)).status_code == 200
    after = [each["session_id"] for each in await sessions_of(casino, member.headers)]
    assert after == [each for each in before if each != ended]
    assert len(after) == 2


async def test_ending_a_session_not_yours_or_gone_is_a_404(casino: CasinoWorld) -> None:
    alice, bob = await casino.member(), await casino.member()
    bobs = (await sessions_of(casino, bob.headers))[0]["session_id"]
    for session_id in (bobs, uuid.uuid4()):
        answer = await casino.client.delete(
            f"{API}/auth/sessions/{session_id}", headers=alice.headers
        )
        assert_error(answer, 404, "session_not_found")
    assert (await casino.client.get(f"{API}/auth/me", headers=bob.headers)).status_code == 200
    assert_error(
        await casino.client.delete(f"{API}/auth/sessions/not-an-id", headers=alice.headers), 422
    )
    assert_error(await casino.client.get(f"{API}/auth/sessions"), 401, "not_authenticated")


async def test_force_logout_ends_every_session_of_the_member(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    second = await casino.login(member.nickname)
    forced = await casino.client.post(
        f"{API}/admin/users/{member.user_id}/force-logout", headers=admin.headers
    )
    assert forced.status_code == 204, forced.text
    for access in (member.access_token, second["access_token"]):
        assert_error(await casino.client.get(f"{API}/auth/me", headers=bearer(access)), 401)
    for refresh in (member.refresh_token, second["refresh_token"]):
        answer = await casino.client.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
        assert_error(answer, 401)
    assert (await casino.client.get(f"{API}/auth/me", headers=admin.headers)).status_code == 200
    fresh = await casino.login(member.nickname)  # force-logout is no ban
    me = await casino.client.get(f"{API}/auth/me", headers=bearer(fresh["access_token"]))
    assert me.status_code == 200


async def test_force_logout_of_an_unknown_member_is_a_404(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    answer = await casino.client.post(
        f"{API}/admin/users/{uuid.uuid4()}/force-logout", headers=admin.headers
    )
    assert_error(answer, 404, "user_not_found")
