"""B0's OpenAPI document tells the truth: every status an operation can answer is listed
(errors with the one error shape, `POST /users`'s 200 for a user who exists), and fixed
vocabularies are enums."""

from __future__ import annotations

from httpx import AsyncClient

from tests.apicheck import documented_statuses, errors_not_in_error_shape, openapi_document

API = "/api/v1"
USER = {"401", "404"}  # a bearer token, and a user made by POST /users (`user_not_registered`)
INPUT = USER | {"422"}

# What each operation can answer, read from the code: 409 from the conflicts the use cases
# raise, 403 from room membership, 422 from any parameter or body.
ANSWERS: dict[tuple[str, str], set[str]] = {
    ("POST", "/users"): {"200", "201", "401"},
    ("GET", "/users/me"): {"200"} | USER,
    ("PATCH", "/users/me"): {"200"} | INPUT,
    ("GET", "/points/transactions"): {"200"} | INPUT,
    ("GET", "/cities"): {"200"} | INPUT,
    ("GET", "/cities/{city_id}"): {"200"} | INPUT,
    ("GET", "/airships"): {"200"} | INPUT,
    ("POST", "/tickets"): {"201", "409"} | INPUT,
    ("GET", "/tickets"): {"200"} | INPUT,
    ("GET", "/tickets/current"): {"200"} | USER,
    ("GET", "/tickets/{ticket_id}"): {"200"} | INPUT,
    ("POST", "/tickets/{ticket_id}/cancel"): {"200", "409"} | INPUT,
    ("GET", "/room-stays/current"): {"200"} | USER,
    ("POST", "/room-stays/current/extend"): {"200", "409"} | USER,
    ("POST", "/room-stays/current/check-out"): {"200"} | USER,
    ("GET", "/rooms/{room_id}/members"): {"200", "403"} | INPUT,
    ("GET", "/rooms/{room_id}/messages"): {"200", "403"} | INPUT,
    ("POST", "/diaries"): {"201", "409"} | INPUT,
    ("GET", "/diaries"): {"200"} | INPUT,
    ("GET", "/diaries/{diary_id}"): {"200"} | INPUT,
    ("GET", "/questionnaires"): {"200"} | USER,
    ("POST", "/questionnaires/{question_id}/answer"): {"201", "409"} | INPUT,
}


async def test_every_status_an_operation_answers_is_documented(b0_client: AsyncClient) -> None:
    document = await openapi_document(b0_client)
    assert documented_statuses(document, API) == ANSWERS
    assert errors_not_in_error_shape(document) == []


async def test_an_existing_user_answers_200_with_the_user(b0_client: AsyncClient) -> None:
    register = (await openapi_document(b0_client))["paths"][f"{API}/users"]["post"]["responses"]
    for status in ("200", "201"):
        schema = register[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/UserPublic"}


async def test_point_history_vocabularies_are_enums(b0_client: AsyncClient) -> None:
    schemas = (await openapi_document(b0_client))["components"]["schemas"]
    entry = schemas["PointTransactionPublic"]["properties"]
    assert schemas["Direction"]["enum"] == ["EARN", "SPEND"]
    assert schemas["Reason"]["enum"] == [
        "SIGN_UP", "DIARY", "QUESTIONNAIRE", "TICKET", "EXTEND", "REFUND",
    ]  # fmt: skip
    assert (entry["type"], entry["reason"]) == (
        {"$ref": "#/components/schemas/Direction"},
        {"$ref": "#/components/schemas/Reason"},
    )
    assert entry["status"]["enum"] == ["PENDING", "COMPLETED", "FAILED"]
    message = schemas["ChatMessagePublic"]["properties"]["message_type"]
    assert message["enum"] == ["USER", "SYSTEM"]
