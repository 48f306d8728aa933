"""The port every notification goes out through: a `Notifier` per channel.

- `in_app` (always): the `notification` frame on the user's socket (the inbox row is the
  notification itself);
- `email`: `mail.LogMailer` (default) or `mail.SmtpMailer` (`FOCUS_EMAIL_ADAPTER=smtp`);
- `push`: to each of the user's devices through the gateway of its platform, `push.LogGateway`
  (default) or FCM (Android, web) and APNs (iOS) with `FOCUS_PUSH_ADAPTER=remote`.

Each runs in the `focus.notification` job, never in a request, one job per notification and
channel (a failing push does not send the e-mail again).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ensemble.apps.focus.domain import Channel
from ensemble.apps.focus.events import user_channel
from ensemble.apps.focus.notifications import mail, push
from ensemble.apps.focus.notifications.models import Notification, Platform
from ensemble.kernel.realtime import Publisher

if TYPE_CHECKING:
    from ensemble.apps.focus.settings import FocusSettings


@dataclass(frozen=True)
class PushTarget:
    """A device as push reaches it."""

    token: str
    platform: Platform


@dataclass(frozen=True)
class Recipient:
    """Where a user is reached: their socket's channel, address and devices."""

    user_id: uuid.UUID
    email: str
    devices: Sequence[PushTarget]


@dataclass(frozen=True)
class Notice:
    """What a notification says, as every channel sends it."""

    notification_id: uuid.UUID
    kind: str
    title: str
    body: str
    data: Mapping[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, notification: Notification) -> Notice:
        return cls(
            notification.id,
            notification.kind,
            notification.title,
            notification.body,
            notification.data,
            notification.created_at,
        )

    def frame(self) -> dict[str, Any]:
        """The `notification` frame of the user's socket."""
        return {
            "type": "notification",
            "notification_id": str(self.notification_id),
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "data": dict(self.data),
            "created_at": self.created_at,
        }


class Notifier(Protocol):
    """A channel's adapter: sends `notice` to `recipient`, or raises (the job retries)."""

    async def send(self, recipient: Recipient, notice: Notice) -> None: ...


@dataclass(frozen=True)
class InApp:
    """The live frame on every socket of the user, in every server process."""

    publisher: Publisher | None

    async def send(self, recipient: Recipient, notice: Notice) -> None:
        if self.publisher is not None:
            await self.publisher.publish(user_channel(recipient.user_id), notice.frame())


@dataclass(frozen=True)
class Email:
    mailer: mail.Mailer

    async def send(self, recipient: Recipient, notice: Notice) -> None:
        await self.mailer.send(recipient.email, notice.title, notice.body)


@dataclass(frozen=True)
class Push:
    """Each device through its platform's gateway."""

    gateways: Mapping[Platform, push.Gateway]

    async def send(self, recipient: Recipient, notice: Notice) -> None:
        message = push.PushMessage(notice.title, notice.body, {**notice.data, "kind": notice.kind})
        for device in recipient.devices:
            await self.gateways[device.platform].send(device.token, message)


@asynccontextmanager
async def open_notifiers(
    settings: FocusSettings, publisher: Publisher | None
) -> AsyncIterator[Mapping[Channel, Notifier]]:
    """Every channel's notifier as the settings choose, open for the process's life."""
    async with AsyncExitStack() as stack:
        gateways = await stack.enter_async_context(push.open_gateways(settings))
        yield {
            Channel.IN_APP: InApp(publisher),
            Channel.EMAIL: Email(mail.mailer(settings)),
            Channel.PUSH: Push(gateways),
        }
