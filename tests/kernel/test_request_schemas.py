"""Request schemas are strict: a wrong JSON type is refused, never coerced, while ids, enum
members and instants (which JSON can only carry as strings) still come as strings."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from fastapi import Query
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ensemble.apps import load_apps
from ensemble.kernel.schemas import FromText, Instant, IntegerLiteral, RequestModel
from tests.apicheck import api_routes


class Colour(enum.StrEnum):
    RED = "RED"


class Body(RequestModel):
    id: FromText[uuid.UUID]
    colour: FromText[Colour]
    count: int
    active: bool
    at: Instant


VALID: dict[str, Any] = {
    "id": "0193a0c4-5b7e-7cc0-8000-000000000001",
    "colour": "RED",
    "count": 5,
    "active": True,
    "at": "2026-01-02T10:00:00+09:00",
}


def test_json_strings_of_ids_enum_members_and_instants_are_taken() -> None:
    body = Body.model_validate(VALID)
    assert body.id == uuid.UUID(VALID["id"])
    assert body.colour is Colour.RED
    assert body.at == datetime(2026, 1, 2, 1, tzinfo=UTC)
    assert body.at.utcoffset() == timedelta(hours=9)
    assert Body.model_validate_json(Body.model_validate(VALID).model_dump_json()) == body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", "5"),
        ("count", 5.0),
        ("count", True),
        ("active", 0),
        ("active", "true"),
        ("id", 5),
        ("colour", 1),
        ("at", 0.5),
        ("at", "0.5"),
        ("at", 1767315600),
        ("at", "2026-01-02T10:00:00"),
        ("at", "tomorrow"),
    ],
)
def test_a_wrong_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate({**VALID, field: value})
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]


Limit: TypeAdapter[int] = TypeAdapter(Annotated[int, Query(ge=1, le=100), IntegerLiteral])


@pytest.mark.parametrize("raw", ["2.0", "2.5", " 2", "2 ", "1e2", "0x10", "", "two"])
def test_an_integer_query_parameter_takes_only_an_integer_literal(raw: str) -> None:
    with pytest.raises(ValidationError):
        Limit.validate_python(raw)


def test_an_integer_query_parameter_keeps_its_bounds() -> None:
    assert Limit.validate_python("7") == 7
    assert Limit.validate_python("+7") == 7
    with pytest.raises(ValidationError):
        Limit.validate_python("101")
    assert Limit.json_schema() == {"type": "integer", "minimum": 1, "maximum": 100}


def test_an_instant_query_parameter_takes_only_iso_8601() -> None:
    at: TypeAdapter[datetime] = TypeAdapter(Annotated[Instant, Query()])
    assert at.validate_python("2026-01-02T10:00:00Z") == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert at.validate_python("2026-01-02T10:00:00-05:00").tzinfo == timezone(-timedelta(hours=5))
    for raw in ("0.5", "1767315600", "2026-01-02"):
        with pytest.raises(ValidationError):
            at.validate_python(raw)


# Every app's request bodies


def _body_models() -> Iterator[type[BaseModel]]:
    for module in load_apps():
        for route in api_routes(module.routers):
            if route.body_field is not None:
                model = route.body_field.field_info.annotation
                if isinstance(model, type) and model.__module__.startswith("ensemble.apps."):
                    yield model


_TEXTUAL = {"uuid", "enum", "datetime", "date", "time"}


def _strict_textual_nodes(node: object, path: str = "") -> Iterator[str]:
    """Schema nodes of types JSON carries as strings that would refuse their string form."""
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str) and kind in _TEXTUAL and node.get("strict") is not False:
            yield f"{path} ({kind})"
        for key, value in node.items():
            yield from _strict_textual_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strict_textual_nodes(value, f"{path}[{index}]")


def test_every_apps_request_bodies_are_strict_request_models() -> None:
    models = set(_body_models())
    assert {m.__module__.split(".")[2] for m in models} >= {"stock", "b0", "eco"}
    lax = [m for m in models if not issubclass(m, RequestModel) or not m.model_config["strict"]]
    assert lax == []
    textual = {m.__name__: list(_strict_textual_nodes(m.__pydantic_core_schema__)) for m in models}
    assert {name: nodes for name, nodes in textual.items() if nodes} == {}


def test_the_checks_see_a_strict_id() -> None:
    class Forgotten(RequestModel):
        id: uuid.UUID
        nested: list[Annotated[datetime, Field()]]

    assert len(list(_strict_textual_nodes(Forgotten.__pydantic_core_schema__))) == 2
