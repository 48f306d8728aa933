"""What every app's request and response schemas are built from.

Requests: a wrong type is a 422, never coerced. `RequestModel` is strict: `"5"` is not an
integer, `0` is not a boolean, `5.0` is not an integer. FastAPI validates a JSON body as the
Python objects `json.loads` made of it, so strict mode would also refuse the values JSON can
only carry as strings (ids, enum members, instants): those fields take their JSON string
through `FromText[...]` (ids and enum members) or `Instant` (an ISO 8601 instant with its
offset, never a number of seconds). Query parameters are strings on the wire:
`IntegerLiteral` takes only an integer literal (`2.0`, `2.5`, ` 2` are refused) and `Instant`
only ISO 8601.

Responses: `ResponseModel`s validate from ORM objects' attributes; no endpoint copies fields
by hand.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")


class RequestModel(BaseModel):
    """The base of every request body: strict types (see the module)."""

    model_config = ConfigDict(strict=True)


class ClosedRequestModel(RequestModel):
    """A request body that also refuses fields it does not know (`extra_forbidden`)."""

    model_config = ConfigDict(strict=True, extra="forbid")


FromText = Annotated[T, Field(strict=False)]
"""A value JSON carries as a string (a UUID, an enum member): its string form is taken,
and only that (a number is still refused)."""


def _iso_8601(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "datetime_iso_8601", "Input should be an ISO 8601 date and time with an offset"
    )


Instant = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_8601)]
"""An ISO 8601 date and time with its offset (`2026-01-02T10:00:00+09:00`); a number (of
seconds since the epoch) is refused."""

_INTEGER = re.compile(r"[+-]?[0-9]+")


def _integer_literal(value: object) -> object:
    if isinstance(value, str):
        if _INTEGER.fullmatch(value) is None:
            raise PydanticCustomError("int_parsing", "Input should be an integer literal")
        return int(value)
    return value


IntegerLiteral = BeforeValidator(_integer_literal)
"""For an integer query parameter: digits with an optional sign, nothing else. Put it after
the `Query(...)` that carries the bounds (`Annotated[int, Query(ge=1), IntegerLiteral]`), so
the bounds stay in the int's own schema and in OpenAPI as `minimum`/`maximum`."""


class ResponseModel(BaseModel):
    """The base of response schemas: validated from an ORM object's attributes, so an
    endpoint returns `Schema.model_validate(row)` (validated once: FastAPI passes an instance
    of its response model through). A field the row lacks under the API's name reads it under
    another (`Field(validation_alias=...)`, `RowId`); one the row lacks entirely comes from
    `Extended`."""

    model_config = ConfigDict(from_attributes=True)


RowId = Annotated[uuid.UUID, Field(validation_alias="id")]
"""An API's `<thing>_id` field: the row's `id`."""


class Extended:
    """`base` read with some attributes added or replaced, for a response schema to validate
    from: `UserPublic.model_validate(Extended(user, current_points=balance))`."""

    def __init__(self, base: object, **extra: object) -> None:
        self._base, self._extra = base, extra

    def __getattr__(self, name: str) -> Any:
        if name in self._extra:
            return self._extra[name]
        return getattr(self._base, name)
