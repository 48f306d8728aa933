"""Typed application errors and the one handler that renders every error as JSON.

Every error a client can see has the shape `{"error": {"code", "message", "details"}}`,
with a stable `code`. Unexpected exceptions become `500 internal_error` with no trace.
"""

from __future__ import annotations

import logging
from typing import Any

from asyncpg import PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from ensemble.kernel.asgi import HttpMiddleware

logger = logging.getLogger(__name__)


class AppError(Exception):
    """A business error with an HTTP status and a stable machine-readable code.

    `keeps_changes` marks errors whose transaction must still commit (for example a failed
    login that records the failure, or a refresh-token reuse that revokes the family).
    """

    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."
    keeps_changes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers
        super().__init__(self.message)


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "The resource does not exist."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many attempts; try again later."


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors minus the echoed input and non-JSON context."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        error_body("validation_error", "The request is not valid.", _validation_details(exc)),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request.scope) or headers.get("Allow", "")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
    )


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(scope: Scope) -> str:
    """Every method some route of the app serves at the request's path (Starlette names only
    the first route it found there)."""
    routes = scope["app"].router.routes
    base = {key: value for key, value in scope.items() if key != "fastapi"}
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**base, "method": method})[0] is Match.FULL for route in routes)
    )


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    logger.info("integrity error mapped to 409: %s", exc)
    return JSONResponse(
        error_body("conflict", "The request conflicts with existing data."), status_code=409
    )


_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: safe to send again


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    """Values PostgreSQL refused (out of range, bad text) are the client's: 422, never 500.

    Handles SQLAlchemy's wrapped errors and asyncpg's own (from the few raw statements)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", "")
    if str(sqlstate).startswith("23"):
        return await _integrity_error(_, exc)
    if sqlstate in _RETRYABLE:
        return JSONResponse(
            error_body("retry", "The request collided with another; send it again."),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if str(sqlstate).startswith("22"):
        return JSONResponse(
            error_body("validation_error", "A value is out of the accepted range."),
            status_code=422,
        )
    return await _unexpected_error(_, exc)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "An unexpected error occurred."), status_code=500
    )


class CatchAllMiddleware(HttpMiddleware):
    """Turns any unhandled exception into `500 internal_error` JSON, logged once, no trace;
    an HTTP error raised outside FastAPI's routing (a direct route reading a body past the
    limit: 413) is rendered as the handlers render it.

    (Starlette's own `Exception` handler answers too but then re-raises to the server.)
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            render = _http_error if isinstance(exc, StarletteHTTPException) else _unexpected_error
            response = await render(Request(scope), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one JSON error rendering on an application (and each mounted sub-app)."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PostgresError, _database_error)
    app.add_middleware(CatchAllMiddleware)
