"""The server's shared Redis client (one connection pool per process), as a dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import BlockingConnectionPool, Redis

from ensemble.kernel.errors import AppError
from ensemble.settings import Settings


class RedisUnavailable(AppError):
    status_code = 503
    code = "redis_unavailable"
    message = "Redis is not configured."


def process_redis(url: str, settings: Settings) -> Redis:
    """A process's shared client: at most `redis_max_connections` connections, and a command
    that finds them all busy waits up to `redis_pool_timeout_seconds` for one (redis-py's
    default pool refuses it at once: a burst of sockets, each with a presence write, failed
    with `MaxConnectionsError`)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_seconds,
    )
    return Redis(connection_pool=pool)


async def get_redis(request: Request) -> Redis:
    redis: Redis | None = request.state.redis
    if redis is None:
        raise RedisUnavailable()
    return redis


RedisDep = Annotated[Redis, Depends(get_redis)]
