"""`/health` (the process is up), `/ready` (its database answers and its background roles
beat) and `/metrics`."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from redis.exceptions import RedisError

from ensemble.kernel.errors import NotFound, Unauthorized, error_body
from ensemble.kernel.heartbeat import missing_roles

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> dict[str, str] | JSONResponse:
    """Readiness: the database answers, the realtime hub hears its own canary through
    Redis, and each background role this deployment expects (`READY_ROLES`, set by
    `serve`) has a live heartbeat."""
    hub = request.state.hub
    if hub is not None and hub.problem is not None:
        return _not_ready(hub.problem)
    try:
        await request.state.database.ping()
    except Exception:
        return _not_ready("The database does not answer.")
    expected: list[str] = request.state.settings.ready_roles
    if expected:
        try:
            missing = await missing_roles(request.state.redis, expected)
        except RedisError:
            return _not_ready("Redis does not answer.")
        if missing:
            return _not_ready(f"Not running: {', '.join(missing)}.", {"missing_roles": missing})
    return {"status": "ready"}


def _not_ready(message: str, details: dict[str, list[str]] | None = None) -> JSONResponse:
    return JSONResponse(error_body("not_ready", message, details), status_code=503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics, for the bearer of `METRICS_TOKEN` only (unset: not served)."""
    _check_metrics_token(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _check_metrics_token(request: Request) -> None:
    expected: SecretStr | None = request.state.settings.metrics_token
    if expected is None:
        raise NotFound()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("A valid metrics token is required.")
