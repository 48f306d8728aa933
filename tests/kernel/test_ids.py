"""Row ids: `new_id` and `id_at` are UUID v7, ordered by the instant they carry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ensemble.kernel.db import id_at, new_id, utcnow


def millis_of(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_at_an_instant_is_a_v7_carrying_its_milliseconds() -> None:
    instant = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    value = id_at(instant)
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert millis_of(value) == int(instant.timestamp() * 1000)


def test_ids_at_instants_sort_as_the_instants_and_before_new_ones() -> None:
    now = utcnow()
    instants = [now - timedelta(seconds=seconds) for seconds in (1, 3600, 86_400 * 30, 0.002)]
    ids = {id_at(instant): instant for instant in instants}
    assert [ids[value] for value in sorted(ids)] == sorted(instants)
    assert max(ids) < new_id()


def test_ids_at_one_instant_differ() -> None:
    instant = utcnow()
    assert len({id_at(instant) for _ in range(1000)}) == 1000
