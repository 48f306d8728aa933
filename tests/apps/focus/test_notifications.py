"""Notifications: the inbox (a DM and an unlocked achievement each notify once), read marks,
delivery by e-mail and push through the `focus.notification` job as the user's preferences
allow (the log adapters, secrets and addresses kept out of the logs), and push devices."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import update

from ensemble.apps.focus import app as focus_app
from ensemble.apps.focus.events import AGGREGATE_USER, AchievementUnlocked
from ensemble.apps.focus.models import UserSettings
from ensemble.apps.focus.notifications.models import Device, Notification
from ensemble.apps.focus.notifications.tasks import deliver_notification
from ensemble.apps.focus.settings import FocusSettings
from ensemble.kernel.events import Envelope
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.messaging import (
    all_pages,
    count,
    jobs_requested,
    open_conversation,
    sent,
)
from tests.apps.focus.roomkit import background
from tests.outboxes import Outboxes

TOKEN = "fcm-token:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


def unlocked(user: FocusUser, code: str = "first_session") -> Envelope:
    payload = AchievementUnlocked(
        user_id=user.user_id, code=code, name="First session", unlocked_at=datetime.now(UTC)
    )
    return Envelope.of(payload, aggregate_type=AGGREGATE_USER, aggregate_id=str(user.user_id))


async def unread_count(world: FocusWorld, user: FocusUser) -> int:
    response = await world.client.get(f"{API}/notifications/unread-count", headers=user.headers)
    assert response.status_code == 200, response.text
    found: int = response.json()["unread_count"]
    return found


async def prefer(world: FocusWorld, user: FocusUser, preferences: dict[str, object]) -> None:
    """The user's notification preferences, as the settings routes store them."""
    async with world.database.unit_of_work() as session:
        await session.execute(
            update(UserSettings)
            .where(UserSettings.account_id == user.user_id)
            .values(notifications=preferences)
        )


async def test_a_message_notifies_its_recipient(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    message = await sent(focus, alice, conversation, "<i>are you focusing?</i>")

    [notification] = await all_pages(focus, bob, "/notifications", 10)
    assert notification["kind"] == "message"
    assert notification["body"] == "<i>are you focusing?</i>"
    assert notification["data"] == {
        "conversation_id": conversation,
        "message_id": message["message_id"],
    }
    assert notification["read_at"] is None
    assert await all_pages(focus, alice, "/notifications", 10) == []
    assert (await unread_count(focus, bob), await unread_count(focus, alice)) == (1, 0)


async def test_unread_filter_and_read_marks(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    for n in range(4):
        await sent(focus, alice, conversation, f"m{n}")
    newest, second, *_ = await all_pages(focus, bob, "/notifications", 1)
    assert [n["body"] for n in await all_pages(focus, bob, "/notifications", 3)] == [
        "m3",
        "m2",
        "m1",
        "m0",
    ]

    mark = f"{API}/notifications/read"
    response = await focus.client.post(
        mark, json={"ids": [second["notification_id"]]}, headers=alice.headers
    )
    assert response.json() == {"marked": 0, "unread_count": 0}  # not hers: nothing happens
    response = await focus.client.post(
        mark, json={"ids": [second["notification_id"]]}, headers=bob.headers
    )
    assert response.json() == {"marked": 1, "unread_count": 3}
    response = await focus.client.post(
        mark, json={"ids": [second["notification_id"]]}, headers=bob.headers
    )
    assert response.json() == {"marked": 0, "unread_count": 3}
    unread = await all_pages(focus, bob, "/notifications", 2, unread="true")
    assert second["notification_id"] not in {n["notification_id"] for n in unread}
    assert len(unread) == 3

    response = await focus.client.post(mark, headers=bob.headers)  # no body: all
    assert response.json() == {"marked": 3, "unread_count": 0}
    assert await all_pages(focus, bob, "/notifications", 2, unread="true") == []
    assert all(n["read_at"] for n in await all_pages(focus, bob, "/notifications", 10))
    assert newest["body"] == "m3"


async def test_an_achievement_delivered_twice_notifies_once(
    focus: FocusWorld, redis: Redis
) -> None:
    user = await focus.user()
    envelope = unlocked(user)
    work = background(focus, redis)
    await work.deliver(envelope)
    await work.deliver(envelope)  # the bus redelivers it
    await work.deliver(unlocked(user))  # the same unlock published again: still one

    [notification] = await all_pages(focus, user, "/notifications", 10)
    assert notification["kind"] == "achievement"
    assert "First session" in notification["title"]
    assert notification["data"]["code"] == "first_session"
    assert (
        len(await jobs_requested(focus.database, deliver_notification.name)) == 3
    )  # 1 x 3 channels

    await work.deliver(unlocked(user, "seven_day_streak"))
    assert await count(focus.database, Notification.id) == 2


async def test_email_and_push_go_out_in_the_job_as_preferences_allow(
    focus: FocusWorld, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = await focus.user(), await focus.user()
    registered = await focus.client.post(
        f"{API}/devices", json={"token": TOKEN, "platform": "android"}, headers=bob.headers
    )
    assert registered.status_code == 201, registered.text
    await prefer(focus, bob, {"email": {"message": False}, "push": {"achievement": False}})
    conversation = await open_conversation(focus, alice, bob)
    work = background(focus, redis)
    caplog.set_level(logging.INFO, logger="ensemble.apps.focus.notifications")

    await sent(focus, alice, conversation, "hello")
    assert await work.run_jobs(deliver_notification) == 3
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if line.startswith("push to device")] == [
        f"push to device …{TOKEN[-6:]}: New message from {alice.email.split('@')[0]}"
    ]
    assert not [line for line in lines if line.startswith("email to")]  # turned off

    caplog.clear()
    await work.deliver(unlocked(bob))
    assert await work.run_jobs(deliver_notification) == 3
    lines = [r.getMessage() for r in caplog.records]
    local, domain = bob.email.split("@")
    assert [line for line in lines if line.startswith("email to")] == [
        f"email to {local[0]}***@{domain}: Achievement unlocked: First session"
    ]
    assert not [line for line in lines if line.startswith("push to")]  # turned off
    assert bob.email not in caplog.text
    assert TOKEN not in caplog.text
    assert await work.run_jobs(deliver_notification) == 0


async def test_devices_register_once_move_to_the_latest_user_and_leave_only_by_theirs(
    focus: FocusWorld,
) -> None:
    alice, bob = await focus.user(), await focus.user()
    body = {"token": TOKEN, "platform": "ios"}
    first = await focus.client.post(f"{API}/devices", json=body, headers=alice.headers)
    again = await focus.client.post(f"{API}/devices", json=body, headers=alice.headers)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["platform"] == "ios"
    moved = await focus.client.post(
        f"{API}/devices", json={**body, "platform": "web"}, headers=bob.headers
    )
    assert moved.status_code == 200
    assert moved.json()["platform"] == "web"
    assert await count(focus.database, Device.token) == 1
    assert await count(focus.database, Device.token, Device.user_id == bob.user_id) == 1

    gone = await focus.client.delete(f"{API}/devices/{TOKEN}", headers=alice.headers)
    assert_error(gone, 404, "device_not_found")  # not hers any more
    assert (
        await focus.client.delete(f"{API}/devices/{TOKEN}", headers=bob.headers)
    ).status_code == 204
    gone = await focus.client.delete(f"{API}/devices/{TOKEN}", headers=bob.headers)
    assert_error(gone, 404, "device_not_found")
    assert await count(focus.database, Device.token) == 0


@dataclass
class Mailbox:
    """A tiny SMTP server on loopback (enough of RFC 5321 for `smtplib`): what it was told."""

    logins: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(line: str) -> None:
            writer.write(f"{line}\r\n".encode())

        reply("220 mailbox ready")
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply("250-mailbox")
                reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                self.logins.append(base64.b64decode(line.split()[2]).decode())
                reply("235 authenticated")
            elif verb == "DATA":
                reply("354 go on")
                raw = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    raw += chunk
                self.messages.append(message_from_bytes(raw))
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                break
            else:  # MAIL, RCPT, RSET, NOOP
                reply("250 ok")
            await writer.drain()
        await writer.drain()
        writer.close()


async def test_the_smtp_adapter_sends_and_keeps_its_password_out_of_the_logs(
    focus: FocusWorld, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    user = await focus.user()
    await prefer(focus, user, {"push": {"achievement": False}})
    mailbox = Mailbox()
    server = await asyncio.start_server(mailbox.session, "127.0.0.1", 0)
    password = "correct-horse-smtp-secret"
    smtp = FocusSettings(
        email_adapter="smtp",
        email_from="Focus Mate <focus@example.com>",
        smtp_host="127.0.0.1",
        smtp_port=server.sockets[0].getsockname()[1],
        smtp_username="focus-mailer",
        smtp_password=SecretStr(password),
        smtp_starttls=False,
    )
    caplog.set_level(logging.DEBUG)
    async with server:
        work = Outboxes(focus.settings, focus.database, redis, [focus_app], {"focus": smtp})
        await work.deliver(unlocked(user))
        assert await work.run_jobs(deliver_notification) == 3

    assert mailbox.logins == [f"\0focus-mailer\0{password}"]
    [mail] = mailbox.messages
    assert (mail["To"], mail["From"]) == (user.email, "Focus Mate <focus@example.com>")
    assert mail["Subject"] == "Achievement unlocked: First session"
    assert "First session" in mail.get_payload()
    assert password not in caplog.text
    assert password not in repr(smtp)
    assert "email sent to" in caplog.text
    assert user.email not in caplog.text


async def test_a_comment_notifies_the_posts_author_once_but_not_for_their_own(
    focus: FocusWorld, redis: Redis
) -> None:
    author, reader = await focus.user(), await focus.user()
    post = await focus.client.post(
        f"{API}/posts", json={"title": "Deep work tips", "body": "…"}, headers=author.headers
    )
    assert post.status_code == 201, post.text
    comments = f"{API}/posts/{post.json()['post_id']}/comments"
    for who, text in ((reader, "Thanks!"), (author, "Glad it helps")):
        answer = await focus.client.post(comments, json={"body": text}, headers=who.headers)
        assert answer.status_code == 201, answer.text

    await background(focus, redis).settle()

    [notification] = await all_pages(focus, author, "/notifications", 10)
    assert notification["kind"] == "community"
    assert notification["data"]["post_id"] == post.json()["post_id"]
    assert await all_pages(focus, reader, "/notifications", 10) == []
