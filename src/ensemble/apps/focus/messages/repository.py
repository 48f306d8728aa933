"""Queries of 1:1 messages: conversations by pair and by member, pages of messages and
blocks, exact unread counts. No rules here."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.messages.models import Block, Conversation, ConversationMember, Message
from ensemble.apps.focus.models import User
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest, newest_first


def _unread(user_id: uuid.UUID) -> ColumnElement[int]:
    """The number of the other user's messages after `user_id`'s read mark (correlated to a
    row of `ConversationMember`)."""
    return (
        select(func.count())
        .where(
            Message.conversation_id == ConversationMember.conversation_id,
            Message.seq > ConversationMember.last_read_seq,
            Message.sender_id != user_id,
        )
        .correlate(ConversationMember)
        .scalar_subquery()
    )


class Conversations(Repository[Conversation]):
    async def between(
        self, session: AsyncSession, low: uuid.UUID, high: uuid.UUID
    ) -> Conversation | None:
        stmt = self.select().where(Conversation.user_low == low, Conversation.user_high == high)
        return (await session.scalars(stmt)).one_or_none()

    async def insert_once(
        self, session: AsyncSession, values: dict[str, Any]
    ) -> Conversation | None:
        """The new conversation, or None if the pair has one (a concurrent insert of the same
        pair waits here for the other to end)."""
        stmt = (
            insert(Conversation)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_low", "user_high"])
            .returning(Conversation)
        )
        return await session.scalar(stmt)

    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, request: PageRequest
    ) -> Page[Row[tuple[Conversation, User, Message | None, int]]]:
        """`user_id`'s conversations, latest activity first, each with the other user, its
        last message and `user_id`'s unread count."""
        stmt = (
            select(Conversation, User, Message, _unread(user_id))
            .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
            .join(User, User.account_id == ConversationMember.peer_id)
            .outerjoin(Message, Message.id == Conversation.last_message_id)
            .where(ConversationMember.user_id == user_id)
        )
        keys = (Conversation.last_activity_at, Conversation.id)
        return await newest_first(session, stmt, request, *keys)


class Members(Repository[ConversationMember]):
    async def of(
        self, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
    ) -> ConversationMember | None:
        return await session.get(ConversationMember, (conversation_id, user_id))

    async def mark_read(
        self, session: AsyncSession, member: ConversationMember, up_to_seq: int
    ) -> int:
        """Move the read mark forward to `up_to_seq` (never back); the mark now."""
        stmt = (
            update(ConversationMember)
            .where(
                ConversationMember.conversation_id == member.conversation_id,
                ConversationMember.user_id == member.user_id,
            )
            .values(last_read_seq=func.greatest(ConversationMember.last_read_seq, up_to_seq))
            .returning(ConversationMember.last_read_seq)
            .execution_options(synchronize_session=False)
        )
        mark: int = (await session.execute(stmt)).scalar_one()
        return mark

    async def unread(
        self, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
    ) -> int:
        stmt = (
            select(_unread(user_id))
            .select_from(ConversationMember)
            .where(
                ConversationMember.conversation_id == conversation_id,
                ConversationMember.user_id == user_id,
            )
        )
        return int((await session.execute(stmt)).scalar_one())


class Messages(Repository[Message]):
    async def page_of(
        self, session: AsyncSession, conversation_id: uuid.UUID, request: PageRequest
    ) -> Page[Message]:
        """A conversation's messages, newest first."""
        where = Message.conversation_id == conversation_id
        return await self.page(session, where, request, (Message.seq,), descending=True)


class Blocks(Repository[Block]):
    async def insert_once(
        self, session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID
    ) -> bool:
        """Block; False if it was already."""
        stmt = (
            insert(Block)
            .values(blocker_id=blocker_id, blocked_id=blocked_id)
            .on_conflict_do_nothing()
            .returning(Block.blocker_id)
        )
        return (await session.scalar(stmt)) is not None

    async def remove(
        self, session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID
    ) -> None:
        await session.execute(
            delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
        )

    async def either_way(self, session: AsyncSession, one: uuid.UUID, other: uuid.UUID) -> bool:
        """Whether either of the two blocked the other."""
        pair = or_(
            and_(Block.blocker_id == one, Block.blocked_id == other),
            and_(Block.blocker_id == other, Block.blocked_id == one),
        )
        return bool(await session.scalar(select(exists().where(pair))))

    async def page_of(
        self, session: AsyncSession, blocker_id: uuid.UUID, request: PageRequest
    ) -> Page[Row[tuple[Block, User]]]:
        """Whom `blocker_id` blocked, latest first, with their names."""
        stmt = (
            select(Block, User)
            .join(User, User.account_id == Block.blocked_id)
            .where(Block.blocker_id == blocker_id)
        )
        keys = (Block.created_at, Block.blocked_id)
        return await newest_first(session, stmt, request, *keys)


conversations = Conversations(Conversation)
members = Members(ConversationMember)
messages = Messages(Message)
blocks = Blocks(Block)
users = Repository(User)
