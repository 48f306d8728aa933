"""1:1 messages: one conversation per pair (also when both open it at once), history newest
first, idempotent sends, exact unread counts under concurrent sends, blocks, and who may see
a conversation."""

from __future__ import annotations

import asyncio
import uuid

from ensemble.apps.focus.messages.models import Conversation, ConversationMember, Message
from ensemble.apps.focus.notifications.models import Notification
from ensemble.apps.focus.notifications.tasks import user_event
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.messaging import (
    all_pages,
    conversations,
    count,
    jobs_requested,
    open_conversation,
    send,
    sent,
    unread,
)


async def test_a_pair_has_one_conversation_whoever_opens_it(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    opened = await open_conversation(focus, alice, bob, 201)
    assert await open_conversation(focus, alice, bob, 200) == opened
    assert await open_conversation(focus, bob, alice, 200) == opened

    [mine] = await conversations(focus, alice)
    [theirs] = await conversations(focus, bob)
    assert mine["peer"]["user_id"] == str(bob.user_id)
    assert theirs["peer"]["user_id"] == str(alice.user_id)
    assert (mine["last_message"], mine["unread_count"]) == (None, 0)
    assert await count(focus.database, Conversation.id) == 1


async def test_opening_each_others_conversation_at_once_gives_one(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    responses = await asyncio.gather(
        *(
            focus.client.post(
                f"{API}/conversations",
                json={"user_id": str(peer.user_id)},
                headers=user.headers,
            )
            for user, peer in [(alice, bob), (bob, alice)] * 6
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 11 + [201], [
        r.text for r in responses
    ]
    assert len({r.json()["conversation_id"] for r in responses}) == 1
    assert await count(focus.database, Conversation.id) == 1
    assert await count(focus.database, ConversationMember.user_id) == 2


async def test_history_is_newest_first_in_pages_and_text_is_kept_raw(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    texts = ["<b>hi</b>", "  spaced  ", "line\nbreak", "😀 & <script>", "x" * 2000]
    for n, text in enumerate(texts):
        await sent(focus, alice if n % 2 == 0 else bob, conversation, text)

    for limit in (1, 2, 5, 100):
        history = await all_pages(focus, bob, f"/conversations/{conversation}/messages", limit)
        assert [m["text"] for m in history] == texts[::-1], limit
        assert [m["seq"] for m in history] == [5, 4, 3, 2, 1]
    assert {m["conversation_id"] for m in history} == {conversation}
    assert history[0]["sender_id"] == str(alice.user_id)


async def test_sending_again_with_the_same_id_or_key_stores_one_message(
    focus: FocusWorld,
) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    client_id = str(uuid.uuid4())

    first = await send(focus.client, alice, conversation, "once", id=client_id)
    again = await send(focus.client, alice, conversation, "once", id=client_id)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json() == again.json()
    assert first.json()["message_id"] == client_id

    key = {"Idempotency-Key": "retry-7"}
    at_once = await asyncio.gather(
        *(send(focus.client, alice, conversation, "keyed", headers=key) for _ in range(6))
    )
    assert sorted(r.status_code for r in at_once) == [200] * 5 + [201]
    assert len({r.json()["message_id"] for r in at_once}) == 1

    reused = await send(focus.client, alice, conversation, "another text", id=client_id)
    assert_error(reused, 409, "idempotency_key_reused")
    reused = await send(focus.client, bob, conversation, "once", id=client_id)
    assert_error(reused, 409, "idempotency_key_reused")  # someone else's id

    assert await count(focus.database, Message.id) == 2
    assert len(await jobs_requested(focus.database, user_event.name)) == 2
    assert await count(focus.database, Notification.id, Notification.user_id == bob.user_id) == 2


async def test_unread_counts_stay_exact_when_many_messages_arrive_at_once(
    focus: FocusWorld,
) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    from_bob, from_alice = 20, 7
    responses = await asyncio.gather(
        *(send(focus.client, bob, conversation, f"b{n}") for n in range(from_bob)),
        *(send(focus.client, alice, conversation, f"a{n}") for n in range(from_alice)),
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    seqs = sorted(r.json()["seq"] for r in responses)
    assert seqs == list(range(1, from_bob + from_alice + 1))  # one number each, no gap

    assert await unread(focus, alice, conversation) == from_bob
    assert await unread(focus, bob, conversation) == from_alice

    # read up to bob's 10th message: the unread ones are his after it
    bobs = sorted((r.json() for r in responses[:from_bob]), key=lambda m: m["seq"])
    mark = bobs[9]
    response = await focus.client.post(
        f"{API}/conversations/{conversation}/read",
        json={"up_to_message_id": mark["message_id"]},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "conversation_id": conversation,
        "last_read_seq": mark["seq"],
        "unread_count": from_bob - 10,
    }
    assert await unread(focus, alice, conversation) == from_bob - 10

    # reading all while more arrive: exactly those after the mark stay unread
    racing = await asyncio.gather(
        focus.client.post(f"{API}/conversations/{conversation}/read", headers=alice.headers),
        *(send(focus.client, bob, conversation, f"late{n}") for n in range(8)),
    )
    last_read = racing[0].json()["last_read_seq"]
    later = [r.json() for r in racing[1:] if r.json()["seq"] > last_read]
    assert await unread(focus, alice, conversation) == len(later)

    await focus.client.post(f"{API}/conversations/{conversation}/read", headers=alice.headers)
    assert await unread(focus, alice, conversation) == 0
    assert await unread(focus, bob, conversation) == from_alice


async def test_a_read_mark_never_moves_back(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    first = await sent(focus, bob, conversation, "one")
    await sent(focus, bob, conversation, "two")
    read = f"{API}/conversations/{conversation}/read"
    response = await focus.client.post(read, json={}, headers=alice.headers)
    assert response.json()["last_read_seq"] == 2
    response = await focus.client.post(
        read, json={"up_to_message_id": first["message_id"]}, headers=alice.headers
    )
    assert (response.json()["last_read_seq"], response.json()["unread_count"]) == (2, 0)


async def test_conversations_come_latest_activity_first_with_the_last_message(
    focus: FocusWorld,
) -> None:
    me, ann, ben, cat = [await focus.user() for _ in range(4)]
    with_ann = await open_conversation(focus, me, ann)
    with_ben = await open_conversation(focus, ben, me)
    with_cat = await open_conversation(focus, me, cat)
    await sent(focus, ann, with_ann, "from ann")
    await sent(focus, me, with_ben, "to ben")
    await sent(focus, ann, with_ann, "ann again")

    for limit in (1, 2, 100):
        listed = await all_pages(focus, me, "/conversations", limit)
        assert [c["conversation_id"] for c in listed] == [with_ann, with_ben, with_cat], limit
    first, second, third = listed
    assert (first["last_message"]["text"], first["unread_count"]) == ("ann again", 2)
    assert (second["last_message"]["text"], second["unread_count"]) == ("to ben", 0)
    assert third["last_message"] is None
    assert [c["conversation_id"] for c in await conversations(focus, cat)] == [with_cat]


async def test_only_its_two_users_see_a_conversation(focus: FocusWorld) -> None:
    alice, bob, eve = await focus.user(), await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    message = await sent(focus, alice, conversation, "private")
    for path in (conversation, str(uuid.uuid4())):
        response = await focus.client.get(
            f"{API}/conversations/{path}/messages", headers=eve.headers
        )
        assert_error(response, 404, "conversation_not_found")
        assert_error(await send(focus.client, eve, path, "hi"), 404, "conversation_not_found")
        response = await focus.client.post(f"{API}/conversations/{path}/read", headers=eve.headers)
        assert_error(response, 404, "conversation_not_found")
    assert await conversations(focus, eve) == []
    other = await open_conversation(focus, eve, alice)
    response = await focus.client.post(
        f"{API}/conversations/{other}/read",
        json={"up_to_message_id": message["message_id"]},  # a message of another conversation
        headers=alice.headers,
    )
    assert_error(response, 404, "message_not_found")
    assert await count(focus.database, Message.id) == 1


async def test_a_block_stops_messages_both_ways_and_writes_nothing(focus: FocusWorld) -> None:
    alice, bob, carol = await focus.user(), await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    await sent(focus, alice, conversation, "before")
    jobs_before = len(await jobs_requested(focus.database, user_event.name))

    block = await focus.client.post(f"{API}/users/{alice.user_id}/block", headers=bob.headers)
    assert block.status_code == 201, block.text
    assert block.json()["user_id"] == str(alice.user_id)
    again = await focus.client.post(f"{API}/users/{alice.user_id}/block", headers=bob.headers)
    assert again.status_code == 200
    assert again.json() == block.json()

    assert_error(await send(focus.client, alice, conversation, "after"), 403, "blocked")
    assert_error(await send(focus.client, bob, conversation, "after"), 403, "blocked")
    assert await count(focus.database, Message.id) == 1
    assert len(await jobs_requested(focus.database, user_event.name)) == jobs_before
    assert await count(focus.database, Notification.id) == 1
    # the conversation and its history stay; a new one cannot be opened, either way
    assert await open_conversation(focus, alice, bob, 200) == conversation
    response = await focus.client.get(
        f"{API}/conversations/{conversation}/messages", headers=alice.headers
    )
    assert [m["text"] for m in response.json()["items"]] == ["before"]
    response = await focus.client.post(f"{API}/users/{carol.user_id}/block", headers=carol.headers)
    assert_error(response, 422, "own_block")
    await focus.client.post(f"{API}/users/{bob.user_id}/block", headers=carol.headers)
    for user, peer in ((carol, bob), (bob, carol)):
        response = await focus.client.post(
            f"{API}/conversations", json={"user_id": str(peer.user_id)}, headers=user.headers
        )
        assert_error(response, 403, "blocked")
    assert await count(focus.database, Conversation.id) == 1

    listed = await all_pages(focus, bob, "/blocks", 1)
    assert [b["user_id"] for b in listed] == [str(alice.user_id)]
    assert listed[0]["display_name"]
    unblock = await focus.client.delete(f"{API}/users/{alice.user_id}/block", headers=bob.headers)
    assert unblock.status_code == 204
    again = await focus.client.delete(f"{API}/users/{alice.user_id}/block", headers=bob.headers)
    assert again.status_code == 204
    assert await all_pages(focus, bob, "/blocks", 10) == []
    assert (await send(focus.client, alice, conversation, "after")).status_code == 201
