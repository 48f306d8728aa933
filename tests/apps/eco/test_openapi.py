"""ECO²'s OpenAPI document tells the truth: every status an operation can answer is listed
(errors with the one error shape: sign-up's 409 and 429, the upload URL's 403/409/410/413),
and fixed vocabularies (scan and reward status, refusal and failure reasons, notification
kinds, categories, rarities, dead-work kinds) are enums with their values."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from ensemble.apps.eco.domain import (
    NOTIFICATION_KINDS,
    RARITIES,
    REFUSAL_REASONS,
    SCAN_FAILURES,
    categories,
)
from tests.apicheck import documented_statuses, errors_not_in_error_shape, openapi_document
from tests.apps.eco.conftest import API

USER = {"401"}  # every operation but sign-up, login, refresh and the upload URL needs a token
INPUT = USER | {"422"}
OWNED = INPUT | {"404"}
ADMIN = INPUT | {"403"}

# What each operation can answer, read from the code: the conflicts, expiries and throttles
# the use cases raise, 404 for a row that is not the caller's, 422 for any parameter or body.
ANSWERS: dict[tuple[str, str], set[str]] = {
    ("POST", "/auth/signup"): {"201", "409", "422", "429"},
    ("POST", "/auth/login"): {"200", "401", "422", "429"},
    ("POST", "/auth/refresh"): {"200", "401", "422"},
    ("POST", "/auth/logout"): {"204"} | INPUT,
    ("GET", "/auth/me"): {"200"} | USER,
    ("POST", "/images/presigned-url"): {"201"} | INPUT,
    ("PUT", "/images/uploads/{upload_id}"): {"204", "400", "403", "409", "410", "413", "422"},
    ("POST", "/images/register"): {"201", "409", "410"} | OWNED,
    ("POST", "/scan/classify"): {"202", "409"} | INPUT,
    ("GET", "/scan/tasks/{task_id}"): {"200"} | OWNED,
    ("GET", "/scan/history"): {"200"} | INPUT,
    ("GET", "/scan/stats"): {"200"} | USER,
    ("GET", "/characters"): {"200"} | USER,
    ("GET", "/characters/me"): {"200"} | USER,
    ("GET", "/characters/me/history"): {"200"} | INPUT,
    ("GET", "/characters/ranking"): {"200"} | INPUT,
    ("GET", "/my/profile"): {"200"} | USER,
    ("PATCH", "/my/profile"): {"200"} | INPUT,
    ("GET", "/notifications"): {"200"} | INPUT,
    ("GET", "/locations/nearby"): {"200"} | INPUT,
    ("POST", "/chat/sessions"): {"201"} | INPUT,
    ("GET", "/chat/sessions"): {"200"} | INPUT,
    ("POST", "/chat/sessions/{session_id}/messages"): {"202"} | OWNED,
    ("GET", "/chat/sessions/{session_id}/messages"): {"200"} | OWNED,
    ("GET", "/admin/dlq"): {"200"} | ADMIN,
    ("POST", "/admin/dlq/reprocess"): {"200"} | ADMIN,
}


async def test_every_status_an_operation_answers_is_documented(eco_client: AsyncClient) -> None:
    document = await openapi_document(eco_client)
    assert documented_statuses(document, API) == ANSWERS
    assert errors_not_in_error_shape(document) == []


def enum_of(schema: dict[str, Any]) -> list[str]:
    """The values of a string enum, directly or as the non-null branch of an optional."""
    if "anyOf" in schema:
        [schema] = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
    values: list[str] = schema["enum"]
    return values


async def test_fixed_vocabularies_are_enums_with_their_values(eco_client: AsyncClient) -> None:
    schemas = (await openapi_document(eco_client))["components"]["schemas"]

    def field(model: str, name: str) -> list[str]:
        return enum_of(schemas[model]["properties"][name])

    assert schemas["ScanStatus"]["enum"] == ["processing", "completed", "failed"]
    assert schemas["RewardStatus"]["enum"] == ["pending", "granted", "failed", "not_eligible"]
    assert field("Reward", "reason") == list(REFUSAL_REASONS)
    assert field("ScanTask", "error") == list(SCAN_FAILURES)
    assert field("NotificationPublic", "kind") == list(NOTIFICATION_KINDS)
    assert field("CharacterPublic", "rarity") == list(RARITIES)
    codes = sorted(categories())
    for model in ("ScanTask", "ScanHistoryItem", "CharacterPublic", "OwnedCharacter"):
        assert field(model, "category") == codes, model
    assert field("ChatMessagePublic", "category") == codes
    kinds = [
        schemas[view]["properties"]["kind"]["const"] for view in ("DeadLetterView", "DeadJobView")
    ]
    assert kinds == ["event", "job"]
