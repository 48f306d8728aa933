"""Real servers started from Python packages when no URL is configured (never fakes)."""

from ensemble.kernel.embedded.postgres import EmbeddedPostgres
from ensemble.kernel.embedded.redis import EmbeddedRedis

__all__ = ["EmbeddedPostgres", "EmbeddedRedis"]
