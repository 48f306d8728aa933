"""Push out: thin HTTP clients of FCM (Android, web) and APNs (iOS), and a gateway that only
logs (the default). Credentials are `SecretStr`s, sent as headers and never logged; tokens are
logged by their last characters."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import SecretStr

from ensemble.apps.focus.notifications.models import Platform

if TYPE_CHECKING:
    from ensemble.apps.focus.settings import FocusSettings

logger = logging.getLogger(__name__)

HTTP2 = find_spec("h2") is not None
"""APNs answers HTTP/2 only: the remote gateways' client speaks it when `h2` is installed
(`httpx[http2]`), else point `FOCUS_APNS_URL` at an HTTP/1.1-to-2 relay."""


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    data: Mapping[str, Any]


class Gateway(Protocol):
    async def send(self, token: str, message: PushMessage) -> None: ...


def masked(token: str) -> str:
    return f"…{token[-6:]}"


class LogGateway:
    """Writes one log line per push instead of sending it."""

    async def send(self, token: str, message: PushMessage) -> None:
        logger.info("push to device %s: %s", masked(token), message.title)


def _secret(value: SecretStr | None) -> str:
    if value is None:
        raise RuntimeError("a remote push gateway needs its credential in the settings")
    return value.get_secret_value()


@dataclass(frozen=True)
class FcmGateway:
    """FCM HTTP v1: `POST {url}` with an OAuth access token (data values as strings)."""

    client: httpx.AsyncClient
    url: str
    access_token: SecretStr | None

    async def send(self, token: str, message: PushMessage) -> None:
        body = {
            "message": {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
                "data": {key: str(value) for key, value in message.data.items()},
            }
        }
        headers = {"Authorization": f"Bearer {_secret(self.access_token)}"}
        response = await self.client.post(self.url, json=body, headers=headers)
        response.raise_for_status()


@dataclass(frozen=True)
class ApnsGateway:
    """APNs: `POST {url}/3/device/{token}` with a provider token for the app's topic."""

    client: httpx.AsyncClient
    url: str
    topic: str
    auth_token: SecretStr | None

    async def send(self, token: str, message: PushMessage) -> None:
        body = {"aps": {"alert": {"title": message.title, "body": message.body}}, **message.data}
        headers = {
            "authorization": f"bearer {_secret(self.auth_token)}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
        }
        response = await self.client.post(
            f"{self.url}/3/device/{token}", json=body, headers=headers
        )
        response.raise_for_status()


@asynccontextmanager
async def open_gateways(settings: FocusSettings) -> AsyncIterator[Mapping[Platform, Gateway]]:
    """The gateway of each platform: logging ones, or FCM and APNs on one HTTP client (closed
    on exit) with `FOCUS_PUSH_ADAPTER=remote`."""
    if settings.push_adapter == "log":
        logged = LogGateway()
        yield dict.fromkeys(Platform, logged)
        return
    timeout = httpx.Timeout(settings.push_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, http2=HTTP2) as client:
        fcm = FcmGateway(client, settings.fcm_url, settings.fcm_access_token)
        apns = ApnsGateway(client, settings.apns_url, settings.apns_topic, settings.apns_auth_token)
        yield {Platform.ANDROID: fcm, Platform.WEB: fcm, Platform.IOS: apns}
