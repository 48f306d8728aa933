"""Response schemas validate from rows' attributes: the API's names on the wire and in the
OpenAPI document, the row's names on the way in, and one validation per response."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import httpx
from fastapi import FastAPI
from pydantic import Field, field_validator

from ensemble.kernel.schemas import Extended, ResponseModel, RowId


@dataclass
class Row:
    """Stands for an ORM object: attributes only."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    direction: str = "CREDIT"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class EntryPublic(ResponseModel):
    validations: ClassVar[list[int]] = []

    entry_id: RowId
    type: str = Field(validation_alias="direction")
    balance: int
    created_at: datetime

    @field_validator("balance")
    @classmethod
    def _count(cls, value: int) -> int:
        cls.validations.append(value)
        return value


def test_a_row_is_read_under_the_api_names() -> None:
    row = Row()
    entry = EntryPublic.model_validate(Extended(row, balance=7))
    assert entry.model_dump() == {
        "entry_id": row.id,
        "type": "CREDIT",
        "balance": 7,
        "created_at": row.created_at,
    }


def test_extended_adds_and_replaces_attributes_and_keeps_the_rest() -> None:
    row = Row()
    extended = Extended(row, balance=7, direction="DEBIT")
    assert (extended.id, extended.balance, extended.direction) == (row.id, 7, "DEBIT")
    assert row.direction == "CREDIT"


async def test_a_response_is_validated_once_and_named_as_the_api_says() -> None:
    app = FastAPI()
    row = Row()

    @app.get("/entry")
    async def read() -> EntryPublic:
        return EntryPublic.model_validate(Extended(row, balance=3))

    EntryPublic.validations.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = (await client.get("/entry")).json()
    assert EntryPublic.validations == [3], "FastAPI passes its response model's instance through"
    assert body["entry_id"] == str(row.id)
    assert set(body) == {"entry_id", "type", "balance", "created_at"}
    schema = app.openapi()["components"]["schemas"]["EntryPublic"]
    assert set(schema["properties"]) == {"entry_id", "type", "balance", "created_at"}
