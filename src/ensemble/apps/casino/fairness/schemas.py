"""Fairness bodies and answers, and what every play route shares (the `Idempotency-Key`
header, the exact rates)."""

from __future__ import annotations

import uuid
from datetime import datetime
from fractions import Fraction
from typing import Annotated

from fastapi import Header
from pydantic import AfterValidator, Field

from ensemble.apps.casino.games import fairness
from ensemble.kernel.schemas import ClosedRequestModel, ResponseModel

ClientSeed = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["lucky-7"]),
    AfterValidator(fairness.check_client_seed),
]
"""1 to 64 printable ASCII characters, no `:` and no space."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="Send a play again with the same key: the same hand comes back, played"
        " and charged once",
    ),
]


class Rate(ResponseModel):
    """A probability: exact (`"1951/2048"`) and as a rounded percentage."""

    fraction: str
    percent: float

    @classmethod
    def of(cls, value: Fraction) -> Rate:
        return cls(
            fraction=f"{value.numerator}/{value.denominator}", percent=round(float(value) * 100, 4)
        )


class ClientSeedRequest(ClosedRequestModel):
    client_seed: ClientSeed


class Commitment(ResponseModel):
    """The seed pair in use: its server seed stays secret until rotated."""

    server_seed_hash: str = Field(description="SHA-256 of the secret server seed")
    client_seed: str
    next_nonce: int = Field(description="The nonce of your next play")
    created_at: datetime


class RevealedPair(ResponseModel):
    """A rotated pair: everything needed to recompute its plays (nonces 1 to `last_nonce`)."""

    seed_pair_id: uuid.UUID = Field(validation_alias="id")
    server_seed: str
    server_seed_hash: str
    client_seed: str
    last_nonce: int = Field(validation_alias="nonce", description="0 if never played")
    created_at: datetime
    revealed_at: datetime


class Rotation(ResponseModel):
    revealed: RevealedPair
    current: Commitment
