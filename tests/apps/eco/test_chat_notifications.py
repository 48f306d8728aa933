"""Disposal Q&A (answered once by the `chat.pipeline` job, with the guide of the recognised
category or a clarifying question), notifications, and both pushed over the notification
WebSocket of a real server by real worker and scheduler processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ensemble.apps.eco import events, tasks
from ensemble.apps.eco.domain import categories, disposal_guide
from ensemble.apps.eco.my import service as my
from ensemble.kernel.db import Database
from ensemble.kernel.events import Envelope
from ensemble.kernel.jobs.models import OutboxJob
from ensemble.kernel.realtime.publisher import DEFAULT_PREFIX
from tests.apicheck import Server, assert_error
from tests.apps.eco.conftest import (
    API,
    EcoUser,
    EcoWorld,
    InlineSaga,
    all_pages,
    quick_users,
)
from tests.polling import eventually
from tests.processes import running

Frame = dict[str, Any]
DEADLINE_S = 30.0


async def open_chat(client: httpx.AsyncClient, user: EcoUser, title: str = "분리배출") -> str:
    response = await client.post(
        f"{API}/chat/sessions", json={"title": title}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title
    session_id: str = response.json()["session_id"]
    return session_id


async def ask(client: httpx.AsyncClient, user: EcoUser, session_id: str, content: str) -> str:
    response = await client.post(
        f"{API}/chat/sessions/{session_id}/messages",
        json={"content": content},
        headers=user.headers,
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "answering"
    assert (accepted["message"]["role"], accepted["message"]["content"]) == ("user", content)
    message_id: str = accepted["message"]["message_id"]
    return message_id


async def messages(world: EcoWorld, user: EcoUser, session_id: str, **params: Any) -> Any:
    response = await world.client.get(
        f"{API}/chat/sessions/{session_id}/messages", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def answer(database: Database, message_id: str) -> None:
    """The `chat.pipeline` job's body, in its own transaction, as the worker runs it."""
    async with database.unit_of_work() as session:
        await tasks.chat_pipeline.run(session, message_id=message_id)


async def pushes(database: Database) -> list[dict[str, Any]]:
    """The payloads of the `eco.push` jobs requested so far."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxJob.kwargs).where(OutboxJob.job == tasks.push.name).order_by(OutboxJob.id)
        )
        return [kwargs["payload"] for kwargs in rows]


# Chat


async def test_a_question_is_answered_once_with_the_guide(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    session_id = await open_chat(eco.client, user)
    question = await ask(eco.client, user, session_id, "다 마신 페트병은 어떻게 버려요?")
    assert [m["role"] for m in (await messages(eco, user, session_id))["items"]] == ["user"]
    async with eco.database.sessionmaker() as session:
        requested = await session.scalar(
            select(func.count()).where(
                OutboxJob.job == tasks.chat_pipeline.name,
                OutboxJob.kwargs["message_id"].astext == question,
            )
        )
    assert requested == 1

    await answer(eco.database, question)
    await answer(eco.database, question)  # delivered twice: still one answer
    page = await messages(eco, user, session_id)
    assert page["next_cursor"] is None
    asked, answered = page["items"]
    assert (asked["message_id"], asked["category"]) == (question, None)
    assert (answered["role"], answered["reply_to"], answered["category"]) == (
        "assistant",
        question,
        "plastic",
    )
    guide = disposal_guide("plastic")
    for part in (guide["label_ko"], guide["label_en"], guide["bin"], *guide["steps"]):
        assert part in answered["content"], part
    assert guide["caution"] in answered["content"]
    [pushed] = await pushes(eco.database)
    assert pushed["type"] == "chat.answer"
    assert (pushed["message_id"], pushed["content"]) == (
        answered["message_id"],
        answered["content"],
    )

    vague = await ask(eco.client, user, session_id, "안녕하세요, 이건 뭐예요?")
    await answer(eco.database, vague)
    clarifying = (await messages(eco, user, session_id))["items"][-1]
    assert (clarifying["reply_to"], clarifying["category"]) == (vague, None)
    assert "조금 더 알려주세요" in clarifying["content"]
    for category in categories().values():
        assert category.label_ko in clarifying["content"]


async def test_chat_sessions_lists_the_callers_sessions_newest_first_in_pages(
    eco: EcoWorld,
) -> None:
    owner, other = await quick_users(eco, 2)
    opened = [await open_chat(eco.client, owner, f"질문 {n}") for n in range(5)]
    theirs = await open_chat(eco.client, other)

    for limit in (1, 2, 5, 100):
        listed = await all_pages(eco, owner, "/chat/sessions", limit)
        assert [item["session_id"] for item in listed] == opened[::-1], limit
    assert listed[0]["title"] == "질문 4"
    response = await eco.client.get(f"{API}/chat/sessions", headers=other.headers)
    assert [item["session_id"] for item in response.json()["items"]] == [theirs]
    assert response.json()["next_cursor"] is None
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "garbage!"}):
        bad = await eco.client.get(f"{API}/chat/sessions", params=params, headers=owner.headers)
        assert_error(bad, 422)
    assert_error(await eco.client.get(f"{API}/chat/sessions"), 401)


async def test_messages_come_in_pages_and_only_to_the_owner(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    owner, stranger = await quick_users(eco, 2)
    session_id = await open_chat(eco.client, owner)
    questions = [
        await ask(eco.client, owner, session_id, text) for text in ("캔", "유리병", "스티로폼")
    ]
    await inline_saga.settle()
    await inline_saga.settle()  # nothing left: still one answer each

    seen = await all_pages(eco, owner, f"/chat/sessions/{session_id}/messages", 4)
    assert [(m["role"], m["reply_to"] or m["message_id"]) for m in seen] == [
        (role, question) for role in ("user", "assistant") for question in questions
    ]  # in the order written: the questions, then the answers the job wrote
    assert [m["category"] for m in seen if m["role"] == "assistant"] == [
        "can",
        "glass",
        "styrofoam",
    ]

    elsewhere = f"{API}/chat/sessions/{session_id}/messages"
    for response in (
        await eco.client.get(elsewhere, headers=stranger.headers),
        await eco.client.post(elsewhere, json={"content": "캔"}, headers=stranger.headers),
        await eco.client.get(f"{API}/chat/sessions/{uuid.uuid4()}/messages", headers=owner.headers),
    ):
        assert_error(response, 404, "chat_session_not_found")
    for content in ("", "가" * 2001):
        response = await eco.client.post(
            elsewhere, json={"content": content}, headers=owner.headers
        )
        assert_error(response, 422)


# Notifications


def scan_failed(user: EcoUser, reason: str) -> Envelope:
    scan_id = uuid.uuid4()
    failed = events.ScanFailed(scan_id=scan_id, user_id=user.user_id, reason=reason)
    return Envelope(
        aggregate_type=events.SCAN,
        aggregate_id=str(scan_id),
        type=events.ScanFailed.TYPE,
        payload=failed.model_dump(mode="json"),
    )


async def notify(database: Database, envelope: Envelope) -> str:
    async with database.unit_of_work() as session:
        return await my.notify(session, envelope)


async def test_notifications_are_stored_once_and_listed_newest_first(eco: EcoWorld) -> None:
    user, other = await quick_users(eco, 2)
    told = [scan_failed(user, f"reason-{n}") for n in range(5)]
    for envelope in told:
        assert await notify(eco.database, envelope) == "scan_failed"
    assert await notify(eco.database, told[0]) == "duplicate"
    assert len(await pushes(eco.database)) == 5

    seen = await all_pages(eco, user, "/notifications", 2)
    assert [n["data"]["reason"] for n in seen] == [f"reason-{n}" for n in reversed(range(5))]
    assert {(n["kind"], n["data"]["event"]) for n in seen} == {("scan_failed", "ScanFailed")}
    assert "reason-4" not in seen[0]["body"], "codes stay in data; the text is plain words"
    theirs = await eco.client.get(f"{API}/notifications", headers=other.headers)
    assert theirs.json() == {"items": [], "next_cursor": None}


async def told(world: EcoWorld, user: EcoUser) -> list[dict[str, Any]]:
    response = await world.client.get(f"{API}/notifications", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_notifications_say_what_happened_in_words_not_codes(
    eco: EcoWorld, inline_saga: InlineSaga
) -> None:
    [user] = await quick_users(eco, 1)
    for _ in range(4):  # the three plastic characters, then one more plastic scan
        await inline_saga.scan(eco, user, user_input="다 마신 페트병")
    await notify(eco.database, scan_failed(user, "image_not_found"))

    latest, refused = (await told(eco, user))[:2]
    assert (refused["kind"], refused["data"]["compensation_reason"]) == (
        "reward_failed",
        "already_owned",
    )
    assert "You already have 페티 Petty, 캡시 Capsy, 라벨론 Labelon." in refused["body"]
    assert latest["kind"] == "scan_failed"
    assert "We could not find your photo" in latest["body"]
    for notification in await told(eco, user):
        text = notification["title"] + notification["body"]
        assert "_" not in text, f"an internal code shown: {text}"


# Pushed over the WebSocket of a real server


@pytest.fixture
def background(process_env: dict[str, str]) -> Iterator[None]:
    """A worker (jobs) and a scheduler (the job outbox relay) as processes."""
    with running("worker", process_env), running("scheduler", process_env):
        yield


def socket_url(server: Server, token: str) -> str:
    return f"{server.ws_url}{API}/ws/notifications?{urlencode({'token': token})}"


async def next_frame(socket: ClientConnection, kind: str) -> Frame:
    """The next frame of type `kind`, skipping others (pings)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            frame: Frame = json.loads(await socket.recv())
            if frame["type"] == kind:
                return frame


async def subscribed(redis: Redis, user: EcoUser) -> None:
    """Until the server listens on the user's channel (it subscribes after accepting)."""
    channel = DEFAULT_PREFIX + my.notification_channel(user.user_id)

    async def listeners() -> int:
        [(_, count)] = await redis.pubsub_numsub(channel)
        return int(count)

    await eventually(listeners, lambda count: count >= 1)


async def test_answers_and_notifications_are_pushed_to_the_socket(
    eco: EcoWorld, eco_server: Server, background: None, redis: Redis
) -> None:
    [user] = await quick_users(eco, 1)
    async with connect(socket_url(eco_server, "not-a-token")) as refused:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), DEADLINE_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401

    async with (
        connect(socket_url(eco_server, user.access_token)) as socket,
        httpx.AsyncClient(base_url=eco_server.base_url, timeout=30) as remote,
    ):
        await subscribed(redis, user)
        session_id = await open_chat(remote, user)
        question = await ask(remote, user, session_id, "우유팩은 어떻게 버리나요?")
        pushed = await next_frame(socket, "chat.answer")
        assert (pushed["reply_to"], pushed["session_id"]) == (question, session_id)
        assert (pushed["role"], pushed["category"]) == ("assistant", "paper")
        stored = (await messages(eco, user, session_id))["items"][-1]
        assert (pushed["message_id"], pushed["content"]) == (
            stored["message_id"],
            stored["content"],
        )

        assert await notify(eco.database, scan_failed(user, "timeout")) == "scan_failed"
        notified = await next_frame(socket, "notification")
        assert (notified["kind"], notified["data"]["reason"]) == ("scan_failed", "timeout")
