"""The message broker behind the jobs: Redis (default), RabbitMQ by URL, a stub for unit tests."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, default_middleware

from ensemble.settings import Settings


def _middleware() -> list[dramatiq.Middleware]:
    return [m() for m in default_middleware] + [AsyncIO(), CurrentMessage()]


def build_broker(url: str, settings: Settings) -> dramatiq.Broker:
    """`redis://…`, `amqp://…` or `stub://` (in-memory, for unit tests only)."""
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=url,
            middleware=_middleware(),
            namespace="ensemble-jobs",
            heartbeat_timeout=settings.jobs_heartbeat_timeout_ms,
            maintenance_chance=settings.jobs_maintenance_chance,
        )
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=_middleware())
    elif url == "stub://":
        broker = StubBroker(middleware=_middleware())
    else:
        raise ValueError(f"unsupported job broker URL: {url!r}")
    return broker
