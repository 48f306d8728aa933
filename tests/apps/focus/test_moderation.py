"""Focus Mate reports and moderation: one open report per reporter and target; moderators
resolve reports, remove posts and comments, suspend and unsuspend users of a lower role
(who may call the routes: `test_auth_matrix.py`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from ensemble.apps.focus.models import Role
from tests.apicheck import assert_error, bearer
from tests.apps.focus.community_support import focus_rows
from tests.apps.focus.conftest import API, PASSWORD, FocusUser, FocusWorld
from tests.apps.focus.messaging import open_conversation, sent
from tests.apps.focus.rows import add_room
from tests.apps.focus.test_community import comment, read, write

MISSING = "0190a000-0000-7000-8000-000000000000"


async def report(
    focus: FocusWorld,
    reporter: FocusUser,
    target_type: str,
    target_id: object,
    reason: str = "spam",
) -> httpx.Response:
    return await focus.client.post(
        f"{API}/reports",
        json={"target_type": target_type, "target_id": str(target_id), "reason": reason},
        headers=reporter.headers,
    )


async def suspend(focus: FocusWorld, caller: FocusUser, user_id: uuid.UUID) -> httpx.Response:
    return await focus.client.post(f"{API}/admin/users/{user_id}/suspend", headers=caller.headers)


# reports


async def test_reporting_twice_answers_the_open_report(focus: FocusWorld) -> None:
    author, reporter = await focus.user(), await focus.user()
    post = await write(focus, author)
    first = await report(focus, reporter, "post", post["post_id"], "spam")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["target_type"], body["target_id"], body["reason"]) == (
        "post",
        post["post_id"],
        "spam",
    )
    assert (body["status"], body["reporter_id"]) == ("open", str(reporter.user_id))
    again = await report(focus, reporter, "post", post["post_id"], "really spam")
    assert again.status_code == 200, again.text
    assert again.json() == body
    other = await report(focus, author, "user", reporter.user_id)
    assert other.status_code == 201  # another reporter and target: another report


async def test_parallel_reports_of_one_target_make_one_report(focus: FocusWorld) -> None:
    author, reporter = await focus.user(), await focus.user()
    post = await write(focus, author)
    answers = await asyncio.gather(
        *(report(focus, reporter, "post", post["post_id"]) for _ in range(10))
    )
    assert sorted(answer.status_code for answer in answers) == [200] * 9 + [201]
    assert len({answer.json()["report_id"] for answer in answers}) == 1


async def test_every_kind_of_target_can_be_reported(focus: FocusWorld) -> None:
    author, reporter = await focus.user(), await focus.user()
    post = await write(focus, author)
    reply = await comment(focus, author, post["post_id"])
    conversation = await open_conversation(focus, author, reporter)
    targets = {
        "user": author.user_id,
        "post": post["post_id"],
        "comment": reply["comment_id"],
        "room": await add_room(focus.database, author.user_id),
        "message": (await sent(focus, author, conversation, "buy my course"))["message_id"],
    }
    for kind, target in targets.items():
        answer = await report(focus, reporter, kind, target)
        assert answer.status_code == 201, (kind, answer.text)


@pytest.mark.parametrize("kind", ["user", "post", "comment", "room", "message"])
async def test_reporting_nothing_is_404(focus: FocusWorld, kind: str) -> None:
    reporter = await focus.user()
    assert_error(await report(focus, reporter, kind, MISSING), 404, "target_not_found")


async def test_a_deleted_post_cannot_be_reported(focus: FocusWorld) -> None:
    author, reporter = await focus.user(), await focus.user()
    post = await write(focus, author)
    await focus.client.delete(f"{API}/posts/{post['post_id']}", headers=author.headers)
    answer = await report(focus, reporter, "post", post["post_id"])
    assert_error(answer, 404, "target_not_found")


async def test_reporting_yourself_is_422(focus: FocusWorld) -> None:
    user = await focus.user()
    answer = await report(focus, user, "user", user.user_id)
    assert_error(answer, 422, "cannot_report_yourself")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"target_type": "planet", "target_id": MISSING, "reason": "x"},
        {"target_type": "post", "target_id": "not-a-uuid", "reason": "x"},
        {"target_type": "post", "target_id": 42, "reason": "x"},
        {"target_type": "post", "target_id": MISSING, "reason": ""},
        {"target_type": "post", "target_id": MISSING, "reason": "   "},
        {"target_type": "post", "target_id": MISSING, "reason": "x" * 1001},
        {"target_type": "post", "target_id": MISSING, "reason": "x", "status": "resolved"},
    ],
)
async def test_a_bad_report_is_422_and_writes_nothing(
    focus: FocusWorld, body: dict[str, Any]
) -> None:
    user = await focus.user()
    before = await focus_rows(focus.database)
    response = await focus.client.post(f"{API}/reports", json=body, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert await focus_rows(focus.database) == before


async def test_moderators_list_and_resolve_reports(focus: FocusWorld) -> None:
    author, reporter = await focus.user(), await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    posts = [await write(focus, author) for _ in range(3)]
    reports = [(await report(focus, reporter, "post", p["post_id"])).json() for p in posts]
    url = f"{API}/admin/reports"
    page = await focus.client.get(f"{url}?limit=2", headers=moderator.headers)
    assert page.status_code == 200, page.text
    rest = await focus.client.get(
        f"{url}?limit=2&cursor={page.json()['next_cursor']}", headers=moderator.headers
    )
    listed = [r["report_id"] for r in page.json()["items"] + rest.json()["items"]]
    assert listed == [r["report_id"] for r in reversed(reports)]  # newest first

    resolve = f"{url}/{reports[0]['report_id']}/resolve"
    resolved = await focus.client.post(
        resolve, json={"resolution": "post removed"}, headers=moderator.headers
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolution"]) == ("resolved", "post removed")
    assert body["resolved_by"] == str(moderator.user_id)
    again = await focus.client.post(
        resolve, json={"resolution": "other"}, headers=moderator.headers
    )
    assert again.json() == body  # resolving twice changes nothing

    open_ones = await focus.client.get(f"{url}?status=open", headers=moderator.headers)
    assert [r["report_id"] for r in open_ones.json()["items"]] == [
        r["report_id"] for r in reversed(reports[1:])
    ]
    closed = await focus.client.get(f"{url}?status=resolved", headers=moderator.headers)
    assert [r["report_id"] for r in closed.json()["items"]] == [reports[0]["report_id"]]
    anew = await report(focus, reporter, "post", posts[0]["post_id"])
    assert anew.status_code == 201  # the open one was resolved: a new report


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/reports?status=closed", None),
        ("GET", "/admin/reports?limit=0", None),
        ("POST", "/admin/reports/not-a-uuid/resolve", {}),
        ("POST", "/admin/reports/{report}/resolve", {"resolution": ""}),
        ("POST", "/admin/reports/{report}/resolve", {"resolution": "x" * 1001}),
        ("POST", "/admin/reports/{report}/resolve", {"status": "open"}),
        ("DELETE", "/admin/posts/not-a-uuid", None),
        ("DELETE", "/admin/comments/not-a-uuid", None),
        ("POST", "/admin/users/not-a-uuid/suspend", None),
        ("POST", "/admin/users/not-a-uuid/unsuspend", None),
    ],
)
async def test_bad_moderation_input_is_422_and_writes_nothing(
    focus: FocusWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    author = await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    post = await write(focus, author)
    reported = (await report(focus, author, "post", post["post_id"])).json()
    before = await focus_rows(focus.database)
    url = API + path.format(report=reported["report_id"])
    response = await focus.client.request(method, url, json=body, headers=moderator.headers)
    assert_error(response, 422)
    assert await focus_rows(focus.database) == before


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("POST", f"/admin/reports/{MISSING}/resolve", "report_not_found"),
        ("DELETE", f"/admin/posts/{MISSING}", "post_not_found"),
        ("DELETE", f"/admin/comments/{MISSING}", "comment_not_found"),
        ("POST", f"/admin/users/{MISSING}/suspend", "user_not_found"),
        ("POST", f"/admin/users/{MISSING}/unsuspend", "user_not_found"),
    ],
)
async def test_moderating_nothing_is_404(
    focus: FocusWorld, method: str, path: str, code: str
) -> None:
    moderator = await focus.user(Role.MODERATOR)
    body: dict[str, Any] | None = {} if path.endswith("resolve") else None
    response = await focus.client.request(method, API + path, json=body, headers=moderator.headers)
    assert_error(response, 404, code)


# removing posts and comments


async def test_a_moderator_removes_a_post_and_a_comment(focus: FocusWorld) -> None:
    author = await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    post = await write(focus, author)
    kept = await write(focus, author)
    reply = await comment(focus, author, kept["post_id"])
    removed = await focus.client.delete(
        f"{API}/admin/posts/{post['post_id']}", headers=moderator.headers
    )
    assert removed.status_code == 204
    assert_error(await read(focus, author, post["post_id"]), 404, "post_not_found")
    url = f"{API}/admin/comments/{reply['comment_id']}"
    assert (await focus.client.delete(url, headers=moderator.headers)).status_code == 204
    assert (await read(focus, author, kept["post_id"])).json()["comment_count"] == 0
    assert_error(await focus.client.delete(url, headers=moderator.headers), 404)


# suspension


async def test_a_suspended_users_issued_token_is_refused_at_once(focus: FocusWorld) -> None:
    user = await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    other_session = await focus.login(user.email)
    assert (await focus.client.get(f"{API}/users/me", headers=user.headers)).status_code == 200
    suspended = await suspend(focus, moderator, user.user_id)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["suspended_at"] is not None
    for token in (user.access_token, other_session["access_token"]):
        assert_error(await focus.client.get(f"{API}/users/me", headers=bearer(token)), 401)
    refreshed = await focus.client.post(
        f"{API}/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert_error(refreshed, 401)
    login = await focus.client.post(
        f"{API}/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert_error(login, 401, "account_disabled")

    again = await suspend(focus, moderator, user.user_id)
    assert again.json()["suspended_at"] == suspended.json()["suspended_at"]
    lifted = await focus.client.post(
        f"{API}/admin/users/{user.user_id}/unsuspend", headers=moderator.headers
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["suspended_at"] is None
    tokens = await focus.login(user.email)
    me = await focus.client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200


async def test_a_suspended_users_profile_is_hidden(focus: FocusWorld) -> None:
    user, viewer = await focus.user(), await focus.user()
    await suspend(focus, await focus.user(Role.MODERATOR), user.user_id)
    profile = await focus.client.get(f"{API}/users/{user.user_id}/profile", headers=viewer.headers)
    assert_error(profile, 404, "user_not_found")


@pytest.mark.parametrize(
    ("caller", "target", "allowed"),
    [
        (Role.MODERATOR, Role.USER, True),
        (Role.ADMIN, Role.MODERATOR, True),
        (Role.MODERATOR, Role.MODERATOR, False),
        (Role.MODERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.ADMIN, False),
    ],
)
async def test_only_a_higher_role_suspends(
    focus: FocusWorld, caller: Role, target: Role, allowed: bool
) -> None:
    moderator, user = await focus.user(caller), await focus.user(target)
    for action in ("suspend", "unsuspend"):
        response = await focus.client.post(
            f"{API}/admin/users/{user.user_id}/{action}", headers=moderator.headers
        )
        if allowed:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, 403, "outranked")
    if not allowed:
        assert (await focus.client.get(f"{API}/users/me", headers=user.headers)).status_code == 200


async def test_nobody_suspends_themselves(focus: FocusWorld) -> None:
    admin = await focus.user(Role.ADMIN)
    assert_error(await suspend(focus, admin, admin.user_id), 403, "outranked")
