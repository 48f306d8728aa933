"""`/health` (the process is up), `/ready` (its database answers) and `/metrics`."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from ensemble.kernel.errors import NotFound, Unauthorized, error_body

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> dict[str, str] | JSONResponse:
    """Readiness: the database answers."""
    try:
        await request.state.database.ping()
    except Exception:
        return JSONResponse(
            error_body("not_ready", "The database does not answer."), status_code=503
        )
    return {"status": "ready"}


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
