"""The payment port (what the shop asks of a payment provider) and its sandbox adapter, and
the webhook signature every provider's notifications carry.

**Signing a webhook** (what a client or a test does to notify the sandbox's payment):

    body = json.dumps({"transaction_id": ..., "status": "paid", "amount": ...,
                       "currency": "USD", "product_id": ...}).encode()
    timestamp = int(time.time())
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Casino-Signature": f"t={timestamp},v1={mac}"}

with `secret` the bytes of `CASINO_PAYMENT_WEBHOOK_SECRET`; `signature_header(secret, body)`
below does exactly that. The timestamp is signed with the raw body, so an old notification
cannot be re-sent with a fresh time: one older (or further ahead) than
`CASINO_PAYMENT_WEBHOOK_TOLERANCE_SECONDS` is refused.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from ensemble.kernel.errors import AppError, NotFound

SIGNATURE_HEADER = "X-Casino-Signature"


class PaymentStatus(enum.StrEnum):
    """A payment as the provider knows it."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Checkout:
    """A payment the provider opened: its transaction id and where the member pays."""

    transaction_id: str
    checkout_url: str


class PaymentPort(Protocol):
    """What the shop asks of a payment provider."""

    name: str

    async def create_checkout(
        self, *, purchase_id: uuid.UUID, amount: int, currency: str, description: str
    ) -> Checkout: ...

    async def payment_status(self, transaction_id: str) -> PaymentStatus: ...

    async def refund(self, transaction_id: str, *, amount: int, reason: str) -> str:
        """Refund a paid payment in full; the provider's refund id."""
        ...


class SandboxPayments:
    """The default provider: no money moves. A checkout gets a fresh transaction id; the
    payment is "made" by a signed webhook (see the module); asked for a status it knows
    nothing (`unknown`), so the sweep fails what no webhook settled; refunds succeed."""

    name = "sandbox"

    async def create_checkout(
        self, *, purchase_id: uuid.UUID, amount: int, currency: str, description: str
    ) -> Checkout:
        transaction_id = f"sbx_{uuid.uuid4().hex}"
        return Checkout(transaction_id, f"https://sandbox.invalid/checkout/{transaction_id}")

    async def payment_status(self, transaction_id: str) -> PaymentStatus:
        return PaymentStatus.UNKNOWN

    async def refund(self, transaction_id: str, *, amount: int, reason: str) -> str:
        return f"sbx_refund_{uuid.uuid4().hex}"


PROVIDERS: dict[str, type[PaymentPort]] = {SandboxPayments.name: SandboxPayments}


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    message = "No such payment provider."


def payment_port(provider: str) -> PaymentPort:
    """The adapter of `provider` (404 `provider_not_found`)."""
    adapter = PROVIDERS.get(provider)
    if adapter is None:
        raise ProviderNotFound(details={"provider": provider})
    return adapter()


# webhook signatures


class BadSignature(AppError):
    status_code = 401
    code = "invalid_signature"
    message = "The webhook signature is missing or wrong."


class StaleWebhook(AppError):
    status_code = 400
    code = "webhook_expired"
    message = "The webhook's timestamp is outside the replay window."


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Casino-Signature` value of `body` signed at `timestamp` (now by default)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_mac(secret, at, body)}"


def verify_signature(
    secret: bytes, body: bytes, header: str | None, *, now: float, tolerance: int
) -> None:
    """Accept `body` only with a valid signature made within `tolerance` seconds of `now`
    (401 `invalid_signature`; 400 `webhook_expired` for a replayed old one)."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    stamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not mac:
        raise BadSignature()
    timestamp = int(stamp)
    if not hmac.compare_digest(_mac(secret, timestamp, body), mac):
        raise BadSignature()
    if abs(now - timestamp) > tolerance:
        raise StaleWebhook(details={"timestamp": timestamp, "tolerance_seconds": tolerance})
