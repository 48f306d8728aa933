"""The outside channels behind ports: e-mail and push. The default adapters only log one
line per message, with the address masked and the member's id shortened (a real adapter
must never log an address or a device token in full either)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """A notification as an outside channel sends it."""

    user_id: uuid.UUID
    notification_id: int
    category: str
    title: str
    body: str


class EmailPort(Protocol):
    async def send(self, address: str, message: Message) -> None: ...


class PushPort(Protocol):
    """Push to a member's devices (the adapter knows them)."""

    async def send(self, user_id: uuid.UUID, message: Message) -> None: ...


def masked_address(address: str) -> str:
    """`a***@example.com`: enough to tell addresses apart in a log, not to read one."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def short_id(user_id: uuid.UUID) -> str:
    return f"{str(user_id)[:8]}…"


class LogEmail:
    async def send(self, address: str, message: Message) -> None:
        logger.info(
            "email to %s: notification %s (%s)",
            masked_address(address),
            message.notification_id,
            message.category,
        )


class LogPush:
    async def send(self, user_id: uuid.UUID, message: Message) -> None:
        logger.info(
            "push to member %s: notification %s (%s)",
            short_id(user_id),
            message.notification_id,
            message.category,
        )


@dataclass(frozen=True)
class Ports:
    email: EmailPort
    push: PushPort


ADAPTERS: dict[str, Ports] = {"log": Ports(LogEmail(), LogPush())}
"""The adapters by `CASINO_NOTIFICATION_ADAPTER` (add a real one here and to the
setting's `Literal`)."""
