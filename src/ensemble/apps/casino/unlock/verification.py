"""The age-verification port: who verifies that a member is an adult in their jurisdiction.
The sandbox adapter (the only one, as `CASINO_AGE_VERIFICATION_PROVIDER=sandbox`) decides
from the declared birth date and logs each decision; a real provider checks documents and
answers the same `Verdict`."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from ensemble.apps.casino.unlock.domain import adult_age, age_on

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    adult: bool
    minimum_age: int
    reference: str
    """The provider's id of the check (kept with the verification and every unlock)."""


class VerificationPort(Protocol):
    name: str

    async def verify(
        self, user_id: uuid.UUID, *, jurisdiction: str, birth_date: date, today: date
    ) -> Verdict: ...


class SandboxVerification:
    """Believes the declared birth date; logs the decision (never the birth date)."""

    name = "sandbox"

    async def verify(
        self, user_id: uuid.UUID, *, jurisdiction: str, birth_date: date, today: date
    ) -> Verdict:
        minimum = adult_age(jurisdiction)
        adult = age_on(birth_date, today) >= minimum
        seed = f"{user_id}:{jurisdiction}:{birth_date.isoformat()}".encode()
        reference = f"sandbox-{hashlib.sha256(seed).hexdigest()[:24]}"
        log.info(
            "age verification",
            extra={"user_id": str(user_id), "jurisdiction": jurisdiction, "adult": adult},
        )
        return Verdict(adult, minimum, reference)


PROVIDERS: dict[str, VerificationPort] = {"sandbox": SandboxVerification()}


def verification_port(name: str) -> VerificationPort:
    return PROVIDERS[name]
