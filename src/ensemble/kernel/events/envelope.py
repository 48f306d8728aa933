"""The envelope every event travels in, and the base of versioned payload schemas.

Payload schemas evolve backward compatibly: a new version only adds fields, each optional
with a default, so a consumer reads every older version with its newest schema; fields it
does not know (a newer producer) are ignored.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ensemble.kernel.db import new_id, utcnow

P = TypeVar("P", bound="EventPayload")


class EventPayload(BaseModel):
    """Base of a payload schema: tolerant of fields added by newer versions.

    A payload class names its event's wire type and current version once, in its class
    line: `class ScanCompleted(EventPayload, type="ScanCompleted", version=2)` (the version
    defaults to 1). Publishers, consumers and projections take the class, never the string.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def __init_subclass__(
        cls, *, type: str | None = None, version: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if type is not None:
            cls.TYPE = type
        if version is not None:
            cls.VERSION = version


def type_names(payloads: Iterable[builtins.type[EventPayload]]) -> frozenset[str]:
    """The wire types of payload classes (what a consumer or projection subscribes to)."""
    return frozenset(payload.TYPE for payload in payloads)


class Envelope(BaseModel):
    """One event: what happened (`type`, `version`, `payload`) to which aggregate, when,
    and under which trace and request."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=new_id)
    aggregate_type: str = Field(min_length=1, max_length=100)
    aggregate_id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    version: int = Field(default=1, ge=1)
    payload: dict[str, Any] = Field(default_factory=dict)
    trace_id: str | None = None
    request_id: str | None = None
    occurred_at: AwareDatetime = Field(default_factory=utcnow)

    @classmethod
    def of(
        cls, payload: EventPayload, *, aggregate_type: str, aggregate_id: str, **fields: Any
    ) -> Envelope:
        """The envelope of `payload` (its class gives the type and version); `fields` are
        the envelope's other fields (`occurred_at`, `trace_id`, …)."""
        return cls(
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            type=payload.TYPE,
            version=payload.VERSION,
            payload=payload.model_dump(mode="json"),
            **fields,
        )

    @property
    def aggregate_key(self) -> str:
        """The partition key: events of one key are published in the order they were written."""
        return f"{self.aggregate_type}:{self.aggregate_id}"

    def payload_as(self, schema: builtins.type[P]) -> P:
        """The payload read with `schema` (any version of it, see the module docstring)."""
        return schema.model_validate(self.payload)

    def to_stream_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis Stream entry (absent ids are left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["payload"] = json.dumps(data["payload"], separators=(",", ":"), ensure_ascii=False)
        return {name: str(value) for name, value in data.items()}

    @classmethod
    def from_stream_fields(cls, fields: Mapping[Any, bytes | str]) -> Envelope:
        decoded = decode_fields(fields)
        return cls.model_validate({**decoded, "payload": json.loads(decoded["payload"])})


def decode_fields(fields: Mapping[Any, bytes | str]) -> dict[str, str]:
    """A stream entry's fields as text."""
    return {as_text(name): as_text(value) for name, value in fields.items()}


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
