"""OpenAPI `responses=` for the error statuses a route can answer, in the one error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: what went wrong")
    message: str = Field(description="For people; may change")
    details: Any = Field(description="More about it (e.g. the invalid fields); `{}` if nothing")


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorDetail


def error_responses(*errors: int | tuple[int, str], described: Mapping[int, str]) -> Responses:
    """The error statuses of one route: each a status (described by `described`) or a
    `(status, description)` of the route's own, all with the error shape."""
    responses: Responses = {}
    for error in errors:
        status, description = error if isinstance(error, tuple) else (error, described[error])
        responses[status] = {"model": ErrorBody, "description": description}
    return responses


ErrorStatus = int | tuple[int, str]
"""A status described by the app's table, or `(status, description)` of one route's own."""


class Errors(Protocol):
    def __call__(self, *errors: ErrorStatus) -> Responses: ...


def errors_described(described: Mapping[int, str]) -> Errors:
    """An app's `errors(*statuses)`: `responses=` for the error statuses a route can answer,
    the usual ones described by `described` (the app's words for its 401, 403, 404, …)."""

    def errors(*errors: ErrorStatus) -> Responses:
        return error_responses(*errors, described=described)

    return errors
