"""Bad input to the messages and notifications routes gets a 4xx in the error shape, never
a 500, with nothing written (who may call them: `test_auth_matrix.py`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from ensemble.apps.focus.messages.models import Block, Conversation, Message
from ensemble.apps.focus.notifications.models import Device, Notification
from ensemble.kernel.jobs.models import OutboxJob
from tests.apicheck import assert_error, fill
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.messaging import count, open_conversation, sent


@dataclass(frozen=True)
class Scene:
    values: dict[str, str]
    headers: dict[str, str]
    other_headers: dict[str, str]


@pytest.fixture
async def scene(focus: FocusWorld) -> Scene:
    """Alice and Bob, a conversation with a message, a device of Alice's."""
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    message = await sent(focus, alice, conversation, "hello")
    device = await focus.client.post(
        f"{API}/devices", json={"token": "alice-device-1", "platform": "ios"}, headers=alice.headers
    )
    assert device.status_code == 201
    values = {
        "peer": str(bob.user_id),
        "user_id": str(bob.user_id),
        "conversation_id": conversation,
        "message_id": message["message_id"],
        "token": "alice-device-1",
        "alice": str(alice.user_id),
    }
    return Scene(values, alice.headers, bob.headers)


async def written(focus: FocusWorld) -> tuple[int, ...]:
    """Rows of every table the routes write (and the jobs they request)."""
    columns = (Conversation.id, Message.id, Block.blocker_id, Notification.id, Device.token)
    return (
        *[await count(focus.database, c) for c in columns],
        await count(focus.database, OutboxJob.id),
    )


LONG = "x" * 2001
BAD_INPUT = [
    # conversations
    ("POST", "/conversations", {}, 422, "validation_error"),
    ("POST", "/conversations", {"user_id": "nope"}, 422, "validation_error"),
    ("POST", "/conversations", {"user_id": 7}, 422, "validation_error"),
    ("POST", "/conversations", {"user_id": "{peer}", "extra": 1}, 422, "validation_error"),
    ("POST", "/conversations", {"user_id": "{alice}"}, 422, "own_conversation"),
    ("POST", "/conversations", {"user_id": str(uuid.UUID(int=1))}, 404, "user_not_found"),
    ("GET", "/conversations?limit=0", None, 422, "validation_error"),
    ("GET", "/conversations?limit=101", None, 422, "validation_error"),
    ("GET", "/conversations?cursor=garbage", None, 422, "invalid_cursor"),
    # messages
    ("GET", "/conversations/nope/messages", None, 422, "validation_error"),
    (
        "GET",
        "/conversations/{conversation_id}/messages?cursor=WyJ4Il0",
        None,
        422,
        "invalid_cursor",
    ),
    ("POST", "/conversations/{conversation_id}/messages", {}, 422, "validation_error"),
    ("POST", "/conversations/{conversation_id}/messages", {"text": ""}, 422, "validation_error"),
    (
        "POST",
        "/conversations/{conversation_id}/messages",
        {"text": " \n\t "},
        422,
        "validation_error",
    ),
    ("POST", "/conversations/{conversation_id}/messages", {"text": LONG}, 422, "validation_error"),
    (
        "POST",
        "/conversations/{conversation_id}/messages",
        {"text": "a\x00b"},
        422,
        "validation_error",
    ),
    ("POST", "/conversations/{conversation_id}/messages", {"text": 5}, 422, "validation_error"),
    (
        "POST",
        "/conversations/{conversation_id}/messages",
        {"text": "hi", "id": "x"},
        422,
        "validation_error",
    ),
    ("POST", "/conversations/{conversation_id}/messages", ["hi"], 422, "validation_error"),
    # the same id for another message
    (
        "POST",
        "/conversations/{conversation_id}/messages",
        {"text": "other", "id": "{message_id}"},
        409,
        "idempotency_key_reused",
    ),
    (
        "POST",
        "/conversations/{conversation_id}/read",
        {"up_to_message_id": 3},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/conversations/{conversation_id}/read",
        {"up_to_message_id": str(uuid.UUID(int=2))},
        404,
        "message_not_found",
    ),
    # blocks
    ("POST", "/users/nope/block", None, 422, "validation_error"),
    ("POST", "/users/{alice}/block", None, 422, "own_block"),
    ("POST", "/users/" + str(uuid.UUID(int=3)) + "/block", None, 404, "user_not_found"),
    ("DELETE", "/users/" + str(uuid.UUID(int=3)) + "/block", None, 404, "user_not_found"),
    ("GET", "/blocks?cursor=%%%", None, 422, "invalid_cursor"),
    # notifications
    ("GET", "/notifications?unread=maybe", None, 422, "validation_error"),
    ("GET", "/notifications?cursor=WyIxIl0", None, 422, "invalid_cursor"),
    ("POST", "/notifications/read", {"ids": []}, 422, "validation_error"),
    ("POST", "/notifications/read", {"ids": ["nope"]}, 422, "validation_error"),
    (
        "POST",
        "/notifications/read",
        {"ids": [str(uuid.uuid4()) for _ in range(101)]},
        422,
        "validation_error",
    ),
    ("POST", "/notifications/read", {"all": True}, 422, "validation_error"),
    # devices
    ("POST", "/devices", {"token": "device-token-2"}, 422, "validation_error"),
    (
        "POST",
        "/devices",
        {"token": "device-token-2", "platform": "symbian"},
        422,
        "validation_error",
    ),
    ("POST", "/devices", {"token": "short", "platform": "web"}, 422, "validation_error"),
    ("POST", "/devices", {"token": "has spaces in it", "platform": "web"}, 422, "validation_error"),
    ("POST", "/devices", {"token": "t" * 513, "platform": "web"}, 422, "validation_error"),
    ("DELETE", "/devices/x", None, 422, "validation_error"),
    ("DELETE", "/devices/unknown-device", None, 404, "device_not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    BAD_INPUT,
    ids=[f"{m} {p} {i}" for i, (m, p, *_) in enumerate(BAD_INPUT)],
)
async def test_bad_input_is_refused_and_writes_nothing(
    focus: FocusWorld, scene: Scene, method: str, path: str, body: Any, status: int, code: str
) -> None:
    before = await written(focus)
    response = await focus.client.request(
        method,
        f"{API}{fill(path, scene.values)}",
        json=fill(body, scene.values),
        headers=scene.headers,
    )
    assert_error(response, status, code)
    assert await written(focus) == before


@pytest.mark.parametrize("key", ["", "has space", "k" * 201, "ü"])
async def test_a_bad_idempotency_key_is_refused(focus: FocusWorld, scene: Scene, key: str) -> None:
    before = await written(focus)
    response = await focus.client.post(
        f"{API}/conversations/{scene.values['conversation_id']}/messages",
        json={"text": "hi"},
        headers=[  # as bytes: non-ASCII too
            *((name.encode(), value.encode()) for name, value in scene.headers.items()),
            (b"Idempotency-Key", key.encode()),
        ],
    )
    assert_error(response, 422, "validation_error")
    assert await written(focus) == before
