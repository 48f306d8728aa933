"""Focus Mate community: posts, comments and likes, as authors, readers and moderators.
Text comes back exactly as written; counts stay exact under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ensemble.apps.focus.events import AGGREGATE_POST, CommentAdded
from ensemble.apps.focus.models import Role
from ensemble.kernel.events.models import OutboxEvent
from tests.apicheck import assert_error
from tests.apps.focus.community_support import focus_rows
from tests.apps.focus.conftest import API, FocusUser, FocusWorld

RAW = "<script>alert(\"x\")</script> & <b>bold</b> &amp; 'quotes' \\ 🦉\n\tend"


async def write(focus: FocusWorld, author: FocusUser, **fields: Any) -> dict[str, Any]:
    body = {"title": "A post", "body": "Hello", **fields}
    response = await focus.client.post(f"{API}/posts", json=body, headers=author.headers)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


async def comment(
    focus: FocusWorld, author: FocusUser, post_id: str, text: str = "Nice"
) -> dict[str, Any]:
    response = await focus.client.post(
        f"{API}/posts/{post_id}/comments", json={"body": text}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    written: dict[str, Any] = response.json()
    return written


async def read(focus: FocusWorld, reader: FocusUser, post_id: str) -> httpx.Response:
    return await focus.client.get(f"{API}/posts/{post_id}", headers=reader.headers)


async def listed(focus: FocusWorld, reader: FocusUser, query: str = "") -> list[dict[str, Any]]:
    """Every page of `/posts?<query>`, two posts a page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        url = f"{API}/posts?limit=2&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await focus.client.get(url, headers=reader.headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


# posts


async def test_a_post_is_written_and_read(focus: FocusWorld) -> None:
    author, reader = await focus.user(), await focus.user()
    post = await write(focus, author, board="Study", tags=["Pomodoro", "deep-work", "pomodoro"])
    assert post["author_id"] == str(author.user_id)
    assert post["author_name"] == author.email.split("@")[0]
    assert (post["board"], post["tags"]) == ("study", ["pomodoro", "deep-work"])
    assert (post["like_count"], post["comment_count"], post["liked_by_me"]) == (0, 0, False)
    assert post["edited_at"] is None
    response = await read(focus, reader, post["post_id"])
    assert response.status_code == 200
    assert response.json() == post


async def test_text_is_returned_exactly_as_written_never_rendered(focus: FocusWorld) -> None:
    author = await focus.user()
    post = await write(focus, author, title="<script>alert(1)</script>", body=RAW)
    reply = await comment(focus, author, post["post_id"], RAW)
    response = await read(focus, author, post["post_id"])
    assert response.headers["content-type"] == "application/json"
    assert response.json()["title"] == "<script>alert(1)</script>"
    assert response.json()["body"] == RAW
    assert b"<script>alert(1)</script>" in response.content  # not escaped as HTML
    assert reply["body"] == RAW
    comments = await focus.client.get(
        f"{API}/posts/{post['post_id']}/comments", headers=author.headers
    )
    assert comments.json()["items"][0]["body"] == RAW


async def test_posts_are_listed_newest_first_and_filtered(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    first = await write(focus, alice, board="study", tags=["math"])
    second = await write(focus, bob, board="study", tags=["math", "exam"])
    third = await write(focus, alice, board="chat")
    fourth = await write(focus, bob)
    gone = await write(focus, bob, board="study", tags=["math"])
    deleted = await focus.client.delete(f"{API}/posts/{gone['post_id']}", headers=bob.headers)
    assert deleted.status_code == 204

    def ids(posts: list[dict[str, Any]]) -> list[str]:
        return [post["post_id"] for post in posts]

    everything = [fourth, third, second, first]
    assert ids(await listed(focus, alice)) == ids(everything)
    assert ids(await listed(focus, alice, "board=study")) == ids([second, first])
    assert ids(await listed(focus, alice, "board=STUDY&tag=exam")) == ids([second])
    assert ids(await listed(focus, alice, "tag=math")) == ids([second, first])
    assert ids(await listed(focus, alice, f"author={alice.user_id}")) == ids([third, first])
    assert await listed(focus, alice, "board=nothing-here") == []


async def test_the_author_edits_a_post(focus: FocusWorld) -> None:
    author = await focus.user()
    post = await write(focus, author, board="study", tags=["a"])
    edited = await focus.client.patch(
        f"{API}/posts/{post['post_id']}",
        json={"title": "Better title", "board": None},
        headers=author.headers,
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["title"], body["body"], body["board"], body["tags"]) == (
        "Better title",
        "Hello",
        None,
        ["a"],
    )
    assert body["edited_at"] is not None


async def test_someone_elses_post_cannot_be_edited_or_deleted(focus: FocusWorld) -> None:
    author, other = await focus.user(), await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    post = await write(focus, author)
    url = f"{API}/posts/{post['post_id']}"
    before = await focus_rows(focus.database)
    for caller in (other, moderator):  # moderators remove posts at /admin/posts/{id}
        edited = await focus.client.patch(url, json={"title": "Mine now"}, headers=caller.headers)
        assert_error(edited, 403, "not_author")
        assert_error(await focus.client.delete(url, headers=caller.headers), 403, "not_author")
    assert await focus_rows(focus.database) == before


async def test_a_deleted_post_is_gone_for_everyone(focus: FocusWorld) -> None:
    author, other = await focus.user(), await focus.user()
    post = await write(focus, author)
    url = f"{API}/posts/{post['post_id']}"
    assert (await focus.client.delete(url, headers=author.headers)).status_code == 204
    assert_error(await focus.client.delete(url, headers=author.headers), 404, "post_not_found")
    for caller in (author, other):
        assert_error(await read(focus, caller, post["post_id"]), 404, "post_not_found")
    edited = await focus.client.patch(url, json={"title": "Back"}, headers=author.headers)
    assert_error(edited, 404, "post_not_found")
    assert_error(
        await focus.client.post(f"{url}/comments", json={"body": "hi"}, headers=other.headers),
        404,
        "post_not_found",
    )
    assert_error(await focus.client.post(f"{url}/like", headers=other.headers), 404)


# comments


async def test_comments_are_written_listed_and_counted(focus: FocusWorld) -> None:
    author, reader = await focus.user(), await focus.user()
    post = await write(focus, author)
    first = await comment(focus, reader, post["post_id"], "First!")
    second = await comment(focus, author, post["post_id"], "Thanks")
    assert first["author_name"] == reader.email.split("@")[0]
    page = await focus.client.get(
        f"{API}/posts/{post['post_id']}/comments?limit=1", headers=reader.headers
    )
    assert [c["comment_id"] for c in page.json()["items"]] == [second["comment_id"]]
    rest = await focus.client.get(
        f"{API}/posts/{post['post_id']}/comments?limit=1&cursor={page.json()['next_cursor']}",
        headers=reader.headers,
    )
    assert [c["comment_id"] for c in rest.json()["items"]] == [first["comment_id"]]
    assert rest.json()["next_cursor"] is None
    assert (await read(focus, reader, post["post_id"])).json()["comment_count"] == 2


async def test_a_comment_tells_the_posts_author_through_an_event(focus: FocusWorld) -> None:
    author, reader = await focus.user(), await focus.user()
    post = await write(focus, author)
    written = await comment(focus, reader, post["post_id"])
    async with focus.database.unit_of_work() as session:
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.type == CommentAdded.TYPE))
        ).all()
    assert [(event.aggregate_type, event.aggregate_id) for event in events] == [
        (AGGREGATE_POST, post["post_id"])
    ]
    added = CommentAdded.model_validate(events[0].payload)
    assert (added.comment_id, added.post_author_id, added.author_id) == (
        uuid.UUID(written["comment_id"]),
        author.user_id,
        reader.user_id,
    )


async def test_the_author_edits_and_deletes_a_comment(focus: FocusWorld) -> None:
    author = await focus.user()
    post = await write(focus, author)
    written = await comment(focus, author, post["post_id"])
    url = f"{API}/comments/{written['comment_id']}"
    edited = await focus.client.patch(url, json={"body": "Edited"}, headers=author.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "Edited"
    assert edited.json()["edited_at"] is not None
    assert (await focus.client.delete(url, headers=author.headers)).status_code == 204
    assert_error(await focus.client.delete(url, headers=author.headers), 404, "comment_not_found")
    comments = await focus.client.get(
        f"{API}/posts/{post['post_id']}/comments", headers=author.headers
    )
    assert comments.json()["items"] == []
    assert (await read(focus, author, post["post_id"])).json()["comment_count"] == 0


async def test_someone_elses_comment_cannot_be_edited_or_deleted(focus: FocusWorld) -> None:
    author, other = await focus.user(), await focus.user()
    post = await write(focus, other)  # even the post's author may not
    written = await comment(focus, author, post["post_id"])
    url = f"{API}/comments/{written['comment_id']}"
    before = await focus_rows(focus.database)
    edited = await focus.client.patch(url, json={"body": "Mine"}, headers=other.headers)
    assert_error(edited, 403, "not_author")
    assert_error(await focus.client.delete(url, headers=other.headers), 403, "not_author")
    assert await focus_rows(focus.database) == before


async def test_a_moderator_deletes_any_comment_but_edits_none(focus: FocusWorld) -> None:
    author = await focus.user()
    moderator = await focus.user(Role.MODERATOR)
    post = await write(focus, author)
    written = await comment(focus, author, post["post_id"])
    url = f"{API}/comments/{written['comment_id']}"
    edited = await focus.client.patch(url, json={"body": "Moderated"}, headers=moderator.headers)
    assert_error(edited, 403, "not_author")
    assert (await focus.client.delete(url, headers=moderator.headers)).status_code == 204
    assert (await read(focus, author, post["post_id"])).json()["comment_count"] == 0


async def test_a_deleted_posts_comments_are_gone(focus: FocusWorld) -> None:
    author = await focus.user()
    post = await write(focus, author)
    written = await comment(focus, author, post["post_id"])
    await focus.client.delete(f"{API}/posts/{post['post_id']}", headers=author.headers)
    listed_comments = await focus.client.get(
        f"{API}/posts/{post['post_id']}/comments", headers=author.headers
    )
    assert_error(listed_comments, 404, "post_not_found")
    edited = await focus.client.patch(
        f"{API}/comments/{written['comment_id']}", json={"body": "x"}, headers=author.headers
    )
    assert_error(edited, 404, "comment_not_found")


async def test_parallel_comments_are_all_counted(focus: FocusWorld) -> None:
    author = await focus.user()
    post = await write(focus, author)
    await asyncio.gather(*(comment(focus, author, post["post_id"], f"#{n}") for n in range(20)))
    assert (await read(focus, author, post["post_id"])).json()["comment_count"] == 20


# likes


async def like(focus: FocusWorld, user: FocusUser, post_id: str) -> httpx.Response:
    return await focus.client.post(f"{API}/posts/{post_id}/like", headers=user.headers)


async def unlike(focus: FocusWorld, user: FocusUser, post_id: str) -> httpx.Response:
    return await focus.client.delete(f"{API}/posts/{post_id}/like", headers=user.headers)


async def test_liking_twice_is_one_like_and_unliking_twice_is_fine(focus: FocusWorld) -> None:
    author, fan = await focus.user(), await focus.user()
    post_id = (await write(focus, author))["post_id"]
    for _ in range(2):
        liked = await like(focus, fan, post_id)
        assert liked.status_code == 200, liked.text
        assert liked.json() == {"post_id": post_id, "liked": True, "like_count": 1}
    assert (await read(focus, fan, post_id)).json()["liked_by_me"] is True
    assert (await read(focus, author, post_id)).json()["liked_by_me"] is False
    for _ in range(2):
        unliked = await unlike(focus, fan, post_id)
        assert unliked.status_code == 200, unliked.text
        assert unliked.json() == {"post_id": post_id, "liked": False, "like_count": 0}
    assert (await read(focus, fan, post_id)).json()["like_count"] == 0


async def test_fifty_users_liking_at_once_make_fifty_likes(focus: FocusWorld) -> None:
    author = await focus.user()
    post_id = (await write(focus, author))["post_id"]
    fans = await asyncio.gather(*(focus.user() for _ in range(50)))
    answers = await asyncio.gather(*(like(focus, fan, post_id) for fan in fans))
    assert all(answer.status_code == 200 for answer in answers)
    assert sorted(answer.json()["like_count"] for answer in answers) == list(range(1, 51))
    assert (await read(focus, author, post_id)).json()["like_count"] == 50


async def test_one_user_liking_twenty_times_at_once_makes_one_like(focus: FocusWorld) -> None:
    author, fan = await focus.user(), await focus.user()
    post_id = (await write(focus, author))["post_id"]
    answers = await asyncio.gather(*(like(focus, fan, post_id) for _ in range(20)))
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.json()["like_count"] for answer in answers} == {1}
    unliked = await asyncio.gather(*(unlike(focus, fan, post_id) for _ in range(20)))
    assert {answer.json()["like_count"] for answer in unliked} == {0}
    assert (await read(focus, author, post_id)).json()["like_count"] == 0


# bad input


MISSING = "0190a000-0000-7000-8000-000000000000"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/posts", {}),
        ("POST", "/posts", {"title": ""}),
        ("POST", "/posts", {"title": "   "}),
        ("POST", "/posts", {"title": "x" * 121}),
        ("POST", "/posts", {"title": "ok", "body": "x" * 10_001}),
        ("POST", "/posts", {"title": "ok", "body": "nul \u0000 inside"}),
        ("POST", "/posts", {"title": "ok", "board": "two words"}),
        ("POST", "/posts", {"title": "ok", "board": "x" * 33}),
        ("POST", "/posts", {"title": "ok", "tags": ["fine", ""]}),
        ("POST", "/posts", {"title": "ok", "tags": [f"t{n}" for n in range(11)]}),
        ("POST", "/posts", {"title": "ok", "tags": "single"}),
        ("POST", "/posts", {"title": 5}),
        ("POST", "/posts", {"title": "ok", "author_id": MISSING}),
        ("PATCH", "/posts/{post}", {"title": None}),
        ("PATCH", "/posts/{post}", {"title": ""}),
        ("PATCH", "/posts/{post}", {"tags": None}),
        ("PATCH", "/posts/{post}", {"like_count": 100}),
        ("PATCH", "/posts/not-a-uuid", {"title": "ok"}),
        ("POST", "/posts/{post}/comments", {}),
        ("POST", "/posts/{post}/comments", {"body": " \n "}),
        ("POST", "/posts/{post}/comments", {"body": "x" * 2001}),
        ("PATCH", "/comments/{comment}", {"body": ""}),
        ("PATCH", "/comments/{comment}", {"body": None}),
        ("DELETE", "/comments/not-a-uuid", None),
        ("POST", "/posts/not-a-uuid/like", None),
        ("GET", "/posts?limit=0", None),
        ("GET", "/posts?limit=101", None),
        ("GET", "/posts?cursor=garbage", None),
        ("GET", "/posts?board=no%20spaces", None),
        ("GET", "/posts?author=someone", None),
        ("GET", "/posts/{post}/comments?limit=1.5", None),
    ],
)
async def test_bad_input_is_422_and_writes_nothing(
    focus: FocusWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    author = await focus.user()
    post = await write(focus, author)
    written = await comment(focus, author, post["post_id"])
    url = API + path.format(post=post["post_id"], comment=written["comment_id"])
    before = await focus_rows(focus.database)
    response = await focus.client.request(method, url, json=body, headers=author.headers)
    assert_error(response, 422)
    assert await focus_rows(focus.database) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", f"/posts/{MISSING}", None, "post_not_found"),
        ("PATCH", f"/posts/{MISSING}", {"title": "x"}, "post_not_found"),
        ("DELETE", f"/posts/{MISSING}", None, "post_not_found"),
        ("GET", f"/posts/{MISSING}/comments", None, "post_not_found"),
        ("POST", f"/posts/{MISSING}/comments", {"body": "x"}, "post_not_found"),
        ("PATCH", f"/comments/{MISSING}", {"body": "x"}, "comment_not_found"),
        ("DELETE", f"/comments/{MISSING}", None, "comment_not_found"),
        ("POST", f"/posts/{MISSING}/like", None, "post_not_found"),
        ("DELETE", f"/posts/{MISSING}/like", None, "post_not_found"),
    ],
)
async def test_unknown_posts_and_comments_are_404(
    focus: FocusWorld, method: str, path: str, body: dict[str, Any] | None, code: str
) -> None:
    user = await focus.user()
    response = await focus.client.request(method, API + path, json=body, headers=user.headers)
    assert_error(response, 404, code)
