"""Pure ledger rules: what a posting request is, when it is valid, when a replay matches,
and which postings of a batch the balance allows (in arrival order)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Required, TypedDict

from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.ledger.errors import IdempotencyKeyReused
from ensemble.kernel.ledger.models import Direction, Entry

MAX_AMOUNT = 2**63 - 1  # PostgreSQL bigint


@dataclass(frozen=True)
class AccountOwner:
    """Whose account: (realm, owner, currency) names at most one account."""

    realm: str
    owner_id: uuid.UUID
    currency: str


class PostingDetails(TypedDict, total=False):
    """What a caller says about a posting besides its account (`spend_by_owner`)."""

    amount: Required[int]
    reason: Required[str]
    reference_type: str | None
    reference_id: str | None
    description: str | None
    idempotency_key: str | None


class PostingFields(PostingDetails, total=False):
    """What a caller says about a posting (`earn`/`spend` keyword arguments)."""

    account_id: Required[uuid.UUID]


@dataclass(frozen=True)
class PostingRequest:
    """One EARN or SPEND asked of an account."""

    account_id: uuid.UUID
    direction: Direction
    amount: int
    reason: str
    reference_type: str | None = None
    reference_id: str | None = None
    description: str | None = None
    idempotency_key: str | None = None

    @property
    def delta(self) -> int:
        """The signed change of the balance: +amount for EARN, -amount for SPEND."""
        return self.amount if self.direction is Direction.EARN else -self.amount

    def validate(self) -> None:
        """Refuse what the database would refuse, with a clear code instead of a 500."""
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
            raise InvalidInput(
                "The amount must be a positive integer.",
                code="invalid_amount",
                details={"amount": str(amount)},
            )
        if not self.reason:
            raise InvalidInput("A posting needs a reason.", code="invalid_reason")
        if self.idempotency_key == "":
            raise InvalidInput(
                "An idempotency key must not be empty.", code="invalid_idempotency_key"
            )

    def entry(
        self, entry_id: uuid.UUID, *, sequence: int, balance_before: int, at: datetime
    ) -> Entry:
        """The entry recording this request as the account's `sequence`-th posting."""
        return Entry(
            id=entry_id,
            account_id=self.account_id,
            sequence=sequence,
            direction=self.direction,
            amount=self.amount,
            reason=self.reason,
            reference_type=self.reference_type,
            reference_id=self.reference_id,
            description=self.description,
            idempotency_key=self.idempotency_key,
            balance_before=balance_before,
            balance_after=balance_before + self.delta,
            created_at=at,
        )

    def matches(self, entry: Entry) -> bool:
        """Whether `entry` records this same request (the description may differ)."""
        return (
            entry.account_id == self.account_id
            and entry.direction == self.direction
            and entry.amount == self.amount
            and entry.reason == self.reason
            and entry.reference_type == self.reference_type
            and entry.reference_id == self.reference_id
        )


def replayed(request: PostingRequest, original: Entry) -> Entry:
    """The original entry of a re-sent request; a different request under its key is refused."""
    if not request.matches(original):
        raise IdempotencyKeyReused(
            details={
                "idempotency_key": original.idempotency_key,
                "entry_id": str(original.id),
            }
        )
    return original


def lowest_running_delta(deltas: Iterable[int]) -> int:
    """The lowest point (≤ 0) the balance reaches while applying `deltas` in order.

    A balance `b` allows every delta, in order, exactly when `b + lowest_running_delta >= 0`.
    """
    return min(accumulate(deltas, initial=0))


def accepted_in_order(balance: int, deltas: Sequence[int]) -> list[bool]:
    """Which deltas a balance allows when applied one by one in arrival order."""
    verdicts: list[bool] = []
    for delta in deltas:
        ok = balance + delta >= 0
        verdicts.append(ok)
        if ok:
            balance += delta
    return verdicts
