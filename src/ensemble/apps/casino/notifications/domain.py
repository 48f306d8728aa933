"""Pure rules of notifications: the channels, what may be muted, the frames a live stream
sends (and their SSE text), and whether a backlog can be replayed or needs a resync."""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ensemble.apps.casino.domain import NotificationCategory

UNMUTABLE = frozenset({NotificationCategory.RESPONSIBLE_PLAY})
"""Responsible-play messages reach the member on every channel, whatever they muted."""
REPLAY_LIMIT = 1000
"""A client further behind than this gets a `resync` (it re-reads the inbox) instead."""
SSE_RETRY_MS = 2000
"""How long an `EventSource` waits before it reconnects (sent once, with the first frame)."""


class Channel(enum.StrEnum):
    """Where a notification goes besides the inbox."""

    LIVE = "live"  # the SSE stream and the WebSocket
    PUSH = "push"
    EMAIL = "email"


OUTSIDE = (Channel.PUSH, Channel.EMAIL)
"""The channels sent by a job after commit, through a port."""


def unmutable_in(categories: Collection[str]) -> list[str]:
    """The categories of `categories` that cannot be muted (a 422 when not empty)."""
    return sorted(c for c in set(categories) if c in UNMUTABLE)


def delivered(category: str, muted: Collection[str]) -> bool:
    """Whether a message of `category` goes out on a channel with `muted` categories."""
    return category in UNMUTABLE or category not in muted


class Event(enum.StrEnum):
    READY = "ready"  # the stream is live from `last_id` (replay, if any, follows)
    RESYNC = "resync"  # the missed messages are gone (retention) or too many: re-read the inbox
    NOTIFICATION = "notification"
    HEARTBEAT = "heartbeat"
    END = "end"  # the stream ends (the socket closes with the reason's code)


class EndReason(enum.StrEnum):
    LIFETIME = "stream_lifetime"  # the SSE stream's lifetime: reconnect with Last-Event-ID
    TOKEN_EXPIRED = "token_expired"
    SESSION_REVOKED = "session_revoked"


@dataclass(frozen=True)
class Frame:
    """One message of a live stream: `id` is the stream position it leaves the client at
    (SSE `id:`), None when it does not move it."""

    event: Event
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None

    def sse(self, *, retry: bool = False) -> bytes:
        """The frame as Server-Sent Events text."""
        lines = [f"retry: {SSE_RETRY_MS}"] if retry else []
        if self.id is not None:
            lines.append(f"id: {self.id}")
        lines += [f"event: {self.event.value}", f"data: {_json(self.data)}", "", ""]
        return "\n".join(lines).encode()

    def socket_text(self) -> str:
        """The frame as a WebSocket JSON text frame: `{"type": event, ...data}`."""
        return _json({"type": self.event.value, **self.data})


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def ready(position: int) -> Frame:
    return Frame(Event.READY, {"last_id": position}, position)


def resync(last_id: int) -> Frame:
    return Frame(Event.RESYNC, {"last_id": last_id}, last_id)


def notification(message: Mapping[str, Any]) -> Frame:
    return Frame(Event.NOTIFICATION, message, int(message["id"]))


HEARTBEAT = Frame(Event.HEARTBEAT)


def replayable(after: int, last_id: int, found: Sequence[int]) -> bool:
    """Whether the ids `found` after `after` (ascending) are every message the member has
    after it, `last_id` the last one given: none missing (deleted by retention), and the
    client not ahead of the server (a reset) nor too far behind (`REPLAY_LIMIT`)."""
    if after > last_id or last_id - after > REPLAY_LIMIT:
        return False
    if list(found) != list(range(after + 1, after + 1 + len(found))):
        return False
    return (found[-1] if found else after) >= last_id
