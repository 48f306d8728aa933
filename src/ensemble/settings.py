"""Every knob of the system, read from the environment (or `.env`), each with a safe default.

Development defaults work out of the box: no URL means embedded servers under `data_dir`,
and a missing `SECRET_KEY` means a random key generated once and kept in `data_dir`.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")
    _signing_key: str | None = PrivateAttr(default=None)

    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… ; unset starts an embedded PostgreSQL in data_dir",
    )
    redis_url: str | None = Field(
        default=None, description="redis://… ; unset starts an embedded Redis in data_dir"
    )
    data_dir: Path = Path(".ensemble")
    secret_key: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = Field(default=1, ge=1, description="HTTP server processes")
    serve_app: str | None = Field(
        default=None, description="set by `serve --app`: the one app its processes serve"
    )
    environment: str = "development"
    log_level: str = "INFO"
    tracing_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="OpenTelemetry spans: none (off), console (one JSON span a line on stdout)"
        " or otlp (OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    cors_origins: list[str] = ["http://localhost:5173", "http://127.0.0.1:5173"]
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="the largest request body accepted (a route may allow more); past it: 413",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="the bearer token `/metrics` asks for; unset: `/metrics` answers 404",
    )

    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_pool_pre_ping: bool = False
    redis_max_connections: int = Field(
        default=100, ge=1, description="connections of a process's shared Redis pool"
    )
    redis_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long a command waits for a free Redis connection"
    )

    access_token_minutes: int = 60
    refresh_token_days: int = 7
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins per account and client address per window"
    )
    login_max_failures_per_ip: int = Field(
        default=50, ge=1, description="failed logins per client address per window"
    )
    login_window_seconds: int = Field(default=300, ge=1, le=86_400)
    signup_max_per_ip: int = Field(default=20, ge=1, description="sign-ups per client address")
    signup_window_seconds: int = Field(default=3600, ge=1, le=86_400)
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default=[],
        description="peers (addresses or networks) whose X-Forwarded-For names the client;"
        " empty: the peer is the client",
    )

    external_provider: str = Field(
        default="SUPABASE", description="the name recorded with identities of the external provider"
    )
    external_jwt_secret: SecretStr | None = Field(
        default=None,
        description="the provider's HS256 secret; with neither it nor a JWKS set, a development"
        " secret derived from the signing key is used (see kernel.identity.external)",
    )
    external_jwks_url: str | None = Field(
        default=None,
        description="https://…/.well-known/jwks.json or a local JWKS file, for RS256/ES256 tokens",
    )
    external_jwt_audience: str = "authenticated"
    external_jwt_issuer: str | None = Field(
        default=None, description="the `iss` the provider's tokens must carry; unset: not checked"
    )
    external_jwks_cache_seconds: float = 300.0

    realtime_heartbeat_seconds: float = Field(
        default=20.0, description="the WebSocket hub pings every socket this often"
    )
    realtime_heartbeat_timeout_seconds: float = Field(
        default=20.0, description="a socket silent this long after a ping is dropped"
    )
    realtime_canary_seconds: float = Field(
        default=5.0,
        gt=0,
        description="the hub sends itself a canary through Redis pub/sub this often",
    )
    realtime_canary_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="a canary not back this soon: the process is not ready and resubscribes",
    )
    realtime_auth_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a socket with no token in its handshake must send it this soon",
    )

    jobs_broker_url: str | None = Field(
        default=None, description="redis://… or amqp://… for the job queue; unset: REDIS_URL"
    )
    jobs_worker_threads: int = 8
    jobs_heartbeat_timeout_ms: int = 15_000
    jobs_maintenance_chance: int = 20_000
    jobs_relay_interval_seconds: float = 1.0
    events_relay_interval_seconds: float = 0.5
    jobs_scheduler_tick_seconds: float = 1.0
    event_bus_url: str | None = Field(
        default=None,
        pattern=r"^kafka://[^\s,/]+(,[^\s,/]+)*/?$",
        description="kafka://host:port[,host:port] puts domain events on Kafka; unset: Redis"
        " Streams on REDIS_URL",
    )
    events_claim_idle_ms: int = Field(
        default=30_000,
        description="an event left unacknowledged this long by a consumer process is taken"
        " over by another (keep it above a handler's time plus its retries)",
    )

    events_retention_hours: float = Field(
        default=168,
        gt=0,
        description="published outbox rows, processed-event records and re-driven dead letters"
        " are deleted this long after (records of an event awaiting a re-drive are kept)",
    )
    events_stream_retention_hours: float = Field(
        default=24,
        ge=0,
        description="stream entries every consumer group has acknowledged are trimmed once"
        " this old",
    )
    jobs_retention_hours: float = Field(
        default=168, gt=0, description="relayed job rows and re-driven dead jobs kept this long"
    )

    heartbeat_interval_seconds: float = Field(
        default=2.0, gt=0, description="each background role refreshes its heartbeat this often"
    )
    heartbeat_ttl_seconds: float = Field(
        default=10.0, gt=0, description="a role whose heartbeat is older than this is missing"
    )
    ready_roles: list[str] = Field(
        default=[],
        description="background roles `/ready` requires a live heartbeat of (set by `serve`"
        " for the roles it starts)",
    )
    supervisor_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        description="`serve` restarts a dead role after this, doubled for each quick exit",
    )
    supervisor_backoff_max_seconds: float = 30.0

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def signing_key(self) -> str:
        """The JWT signing key: `SECRET_KEY`; in development only, a random key created once
        in `data_dir` (so every process sharing that directory agrees). Read once."""
        if self._signing_key is None:
            self._signing_key = self._resolve_signing_key()
        return self._signing_key

    def _resolve_signing_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if not self.is_development:
            raise RuntimeError("SECRET_KEY must be set outside development")
        key_file = self.data_dir / "secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:  # the first process to get here writes the key; the others read it
            with key_file.open("x") as created:
                key_file.chmod(0o600)
                created.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass
        return key_file.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
