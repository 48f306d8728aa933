"""Pure inventory rules: signed deltas, last-write-wins ordering, change-feed positions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ensemble.apps.stock.models import TransactionType
from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.pagination import decode_cursor, encode_cursor

MAX_QUANTITY = 1_000_000_000


class InvalidMovement(ValueError):
    """A movement that can never be applied (the reason is a stable code)."""


def signed_delta(kind: TransactionType, quantity: int) -> int:
    """The stock change of a movement: IN +q, OUT −q (q > 0), ADJUST a signed non-zero delta."""
    if abs(quantity) > MAX_QUANTITY:
        raise InvalidMovement("quantity_out_of_range")
    if kind is TransactionType.ADJUST:
        if quantity == 0:
            raise InvalidMovement("adjust_quantity_zero")
        return quantity
    if quantity <= 0:
        raise InvalidMovement("quantity_not_positive")
    return quantity if kind is TransactionType.IN else -quantity


class ProductVersion(NamedTuple):
    """The total order of product versions for last-write-wins.

    Later `updated_at` wins; on a tie the larger `device_id` wins; two versions equal on both
    are told apart by their content digest, so every replica picks the same winner whatever
    order the batches arrive in.
    """

    updated_at: datetime
    device_id: str
    digest: str


def product_digest(fields: dict[str, Any]) -> str:
    """A stable digest of a product version's content (field order does not matter)."""
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, order=True)
class ChangePosition:
    """A position in a store's change feed: (writing transaction id, global sequence).

    A reader only serves rows whose transaction id is below the oldest transaction still
    running (`pg_snapshot_xmin`): every such transaction has finished, so no row can later
    appear behind a position already served. A plain sequence would skip row 41 committed
    after row 42 was read; this cannot.
    """

    xid: int
    seq: int

    def encode(self) -> str:
        return encode_cursor((self.xid, self.seq))

    @classmethod
    def decode(cls, cursor: str | None) -> ChangePosition:
        if cursor is None:
            return START
        xid, seq = decode_cursor(cursor, 2)
        if not all(type(part) is int and 0 <= part < 2**63 for part in (xid, seq)):
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        return cls(xid, seq)


START = ChangePosition(0, 0)
