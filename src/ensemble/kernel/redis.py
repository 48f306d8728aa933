"""The server's shared Redis client (one connection pool per process), as a dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from ensemble.kernel.errors import AppError


class RedisUnavailable(AppError):
    status_code = 503
    code = "redis_unavailable"
    message = "Redis is not configured."


def get_redis(request: Request) -> Redis:
    redis: Redis | None = request.state.redis
    if redis is None:
        raise RedisUnavailable()
    return redis


RedisDep = Annotated[Redis, Depends(get_redis)]
