"""Revoked sessions: an access token dies with its session, at once (decision 15).

An access token names its session (`sid`, the refresh-token family). Revoking a session
(logout, refresh-token reuse, password change, an admin disabling the account) marks its
refresh tokens revoked in the database (the truth) and, in the same request, sets the key
`<prefix><sid>` in Redis for as long as an access token lives and publishes the id on
`REVOKED_SESSIONS_CHANNEL` (open sockets of the session close on it). Resolving a caller
costs one `EXISTS`; while Redis is unreachable the database answers instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from ensemble.kernel.identity.models import RefreshToken
from ensemble.kernel.redis import RedisUnavailable
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

REVOKED_SESSIONS_CHANNEL = "ensemble:identity:revoked-sessions"
_KEY_PREFIX = "ensemble:identity:revoked-session:"


@dataclass(frozen=True)
class Revocations:
    """The revoked-session set in Redis; entries live as long as an access token."""

    redis: Redis
    ttl: timedelta

    @classmethod
    def of(cls, redis: Redis | None, settings: Settings) -> Revocations:
        if redis is None:
            raise RedisUnavailable()
        return cls(redis, timedelta(minutes=settings.access_token_minutes))

    async def announce(self, sessions: Collection[uuid.UUID]) -> None:
        """Mark `sessions` revoked (their access tokens are refused from now on) and tell
        every process. A Redis failure is logged: the database already holds the truth."""
        if not sessions:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id in sessions:
                    pipe.set(_KEY_PREFIX + str(session_id), 1, ex=self.ttl)
                    pipe.publish(REVOKED_SESSIONS_CHANNEL, str(session_id))
                await pipe.execute()
        except (RedisError, OSError):
            logger.exception("revoked sessions could not be announced in Redis")

    async def is_revoked(self, session: AsyncSession, session_id: uuid.UUID) -> bool:
        """Whether the session `session_id` was revoked (Redis; the database if it is down)."""
        try:
            return bool(await self.redis.exists(_KEY_PREFIX + str(session_id)))
        except (RedisError, OSError):
            logger.warning("revoked sessions checked in the database: Redis is unreachable")
        revoked = exists().where(
            RefreshToken.family_id == session_id, RefreshToken.revoked_at.is_not(None)
        )
        return bool(await session.scalar(select(revoked)))


async def _revocations(connection: HTTPConnection) -> Revocations:
    return Revocations.of(connection.state.redis, connection.state.settings)


RevocationsDep = Annotated[Revocations, Depends(_revocations)]
