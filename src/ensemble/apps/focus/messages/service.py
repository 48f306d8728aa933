"""1:1 message use cases: open a conversation, send and read messages, mark them read,
block. Never commit.

Rules:
- one conversation per pair of users, however many open it at once (unique pair; the
  loser of a race gets the winner's);
- only its two users see a conversation (404 for anyone else);
- messages are numbered under the conversation's row lock, so numbers follow commit order,
  and a user's unread count is the other's messages after their read mark: exact however
  many arrive at once;
- a block, either way, stops new conversations and new messages between the two (403
  `blocked`); history stays readable and an existing conversation can still be opened;
- a message sent again with its id (or `Idempotency-Key`) is stored once;
- each new message goes to both users' sockets (`dm`) and notifies the recipient
  (`message`), after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.domain import NotificationKind
from ensemble.apps.focus.messages import repository
from ensemble.apps.focus.messages.models import Block, Conversation, ConversationMember, Message
from ensemble.apps.focus.messages.schemas import MessagePublic
from ensemble.apps.focus.models import User
from ensemble.apps.focus.notifications import service as notifications
from ensemble.apps.focus.notifications.tasks import user_event
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1f5a0e-56c4-4f55-9d0b-8f6f1d1b8a41")
PREVIEW = 200
"""Characters of a message in its notification."""


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation, or you are not in it."


class MessageNotFound(NotFound):
    code = "message_not_found"
    message = "No such message in this conversation."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


class Blocked(Forbidden):
    code = "blocked"
    message = "A block stands between you and this user."


class OwnConversation(InvalidInput):
    code = "own_conversation"
    message = "A conversation takes another user."


class OwnBlock(InvalidInput):
    code = "own_block"
    message = "You cannot block yourself."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This message id was already used for another message."


@dataclass(frozen=True)
class ReadState:
    conversation_id: uuid.UUID
    last_read_seq: int
    unread_count: int


def message_id_of(sender_id: uuid.UUID, client_id: uuid.UUID | None, key: str | None) -> uuid.UUID:
    """The id of a new message: the client's, else one derived from its `Idempotency-Key`
    (per sender), else a new one."""
    if client_id is not None:
        return client_id
    if key is not None:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{sender_id}:{key}")
    return new_id()


def dm_frame(message: Message) -> dict[str, Any]:
    """The `dm` frame both users' sockets receive: the message as the API shows it."""
    return {"type": "dm", **MessagePublic.model_validate(message).model_dump(mode="json")}


# Conversations


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    found = await repository.users.get(session, user_id)
    if found is None:
        raise UserNotFound()
    return found


async def ensure_not_blocked(session: AsyncSession, one: uuid.UUID, other: uuid.UUID) -> None:
    if await repository.blocks.either_way(session, one, other):
        raise Blocked()


async def open_conversation(
    session: AsyncSession, user_id: uuid.UUID, peer_id: uuid.UUID
) -> tuple[Conversation, bool]:
    """The pair's conversation, opened now unless it exists; whether it is new."""
    if peer_id == user_id:
        raise OwnConversation()
    await _user(session, peer_id)
    low, high = sorted((user_id, peer_id))
    existing = await repository.conversations.between(session, low, high)
    if existing is not None:
        return existing, False
    await ensure_not_blocked(session, user_id, peer_id)
    now = utcnow()
    values = {"id": new_id(), "user_low": low, "user_high": high, "created_by": user_id}
    created = await repository.conversations.insert_once(
        session, {**values, "created_at": now, "last_activity_at": now, "last_seq": 0}
    )
    if created is None:  # opened at the same moment by the other (or another tab): theirs
        winner = await repository.conversations.between(session, low, high)
        assert winner is not None  # the insert that beat ours committed before ours went on
        return winner, False
    session.add_all(
        [
            ConversationMember(conversation_id=created.id, user_id=user_id, peer_id=peer_id),
            ConversationMember(conversation_id=created.id, user_id=peer_id, peer_id=user_id),
        ]
    )
    await session.flush()
    return created, True


async def conversations_of(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[Row[tuple[Conversation, User, Message | None, int]]]:
    return await repository.conversations.page_of(session, user_id, page)


async def conversation_row(
    session: AsyncSession, user_id: uuid.UUID, conversation: Conversation
) -> tuple[Conversation, User, Message | None, int]:
    """A conversation as the lists show it to `user_id`: the other, the last message, the
    unread count."""
    peer = await _user(session, _other(conversation, user_id))
    last = (
        await repository.messages.get(session, conversation.last_message_id)
        if conversation.last_message_id
        else None
    )
    unread = await repository.members.unread(session, conversation.id, user_id)
    return conversation, peer, last, unread


def _other(conversation: Conversation, user_id: uuid.UUID) -> uuid.UUID:
    return conversation.user_high if conversation.user_low == user_id else conversation.user_low


async def _membership(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationMember:
    member = await repository.members.of(session, conversation_id, user_id)
    if member is None:
        raise ConversationNotFound()
    return member


# Messages


async def send(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    text: str,
    *,
    message_id: uuid.UUID,
) -> tuple[Message, bool]:
    """Send a message (the conversation's row locked until commit: numbers follow commit
    order, and a resend of `message_id` waits for the first and returns it); whether it is
    new."""
    member = await _membership(session, user_id, conversation_id)
    conversation = await repository.conversations.get(session, conversation_id, lock=True)
    assert conversation is not None  # members go with their conversation
    earlier = await repository.messages.get(session, message_id)
    if earlier is not None:
        same = (earlier.conversation_id, earlier.sender_id, earlier.text)
        if same != (conversation_id, user_id, text):
            raise IdempotencyKeyReused()
        return earlier, False
    await ensure_not_blocked(session, user_id, member.peer_id)
    conversation.last_seq += 1
    message = Message(
        id=message_id,
        conversation_id=conversation_id,
        seq=conversation.last_seq,
        sender_id=user_id,
        text=text,
        created_at=utcnow(),
    )
    conversation.last_message_id, conversation.last_activity_at = message.id, message.created_at
    session.add(message)
    await session.flush()
    await _announce(session, message, member.peer_id)
    return message, True


async def _announce(session: AsyncSession, message: Message, recipient_id: uuid.UUID) -> None:
    """After commit: the `dm` frame on both users' sockets, and the recipient's notification."""
    users = [str(message.sender_id), str(recipient_id)]
    await user_event.enqueue(session, user_ids=users, payload=dm_frame(message))
    sender = await _user(session, message.sender_id)
    await notifications.notify(
        session,
        recipient_id,
        kind=NotificationKind.MESSAGE,
        title=f"New message from {sender.display_name}",
        body=message.text[:PREVIEW],
        source=f"message:{message.id}",
        data={"conversation_id": str(message.conversation_id), "message_id": str(message.id)},
    )


async def history(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID, page: PageRequest
) -> Page[Message]:
    """A conversation's messages, newest first (its two users only)."""
    await _membership(session, user_id, conversation_id)
    return await repository.messages.page_of(session, conversation_id, page)


async def mark_read(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    up_to_message_id: uuid.UUID | None,
) -> ReadState:
    """Read up to a message of the conversation (default: every message committed so far);
    a mark never moves back."""
    member = await _membership(session, user_id, conversation_id)
    if up_to_message_id is None:
        conversation = await repository.conversations.get(session, conversation_id)
        assert conversation is not None
        up_to = conversation.last_seq
    else:
        message = await repository.messages.get(session, up_to_message_id)
        if message is None or message.conversation_id != conversation_id:
            raise MessageNotFound()
        up_to = message.seq
    mark = await repository.members.mark_read(session, member, up_to)
    unread = await repository.members.unread(session, conversation_id, user_id)
    return ReadState(conversation_id, mark, unread)


# Blocks


async def block(
    session: AsyncSession, user_id: uuid.UUID, blocked_id: uuid.UUID
) -> tuple[Block, User, bool]:
    """Block a user (again: nothing changes); the block, its user, whether it is new."""
    if blocked_id == user_id:
        raise OwnBlock()
    blocked = await _user(session, blocked_id)
    created = await repository.blocks.insert_once(session, user_id, blocked_id)
    found = await session.get(Block, (user_id, blocked_id))
    assert found is not None
    return found, blocked, created


async def unblock(session: AsyncSession, user_id: uuid.UUID, blocked_id: uuid.UUID) -> None:
    """Lift a block (none: nothing to do)."""
    await _user(session, blocked_id)
    await repository.blocks.remove(session, user_id, blocked_id)


async def blocks_of(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[Row[tuple[Block, User]]]:
    return await repository.blocks.page_of(session, user_id, page)
