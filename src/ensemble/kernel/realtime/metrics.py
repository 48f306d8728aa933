"""Prometheus metrics of the WebSocket hub (per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTED = Gauge("realtime_connected_sockets", "WebSockets joined to a channel in this process")
PUBLISHED = Counter("realtime_messages_published_total", "Messages published to a channel")
FANNED_OUT = Counter(
    "realtime_messages_fanned_out_total", "Messages written to a local socket (one per recipient)"
)
DROPPED = Counter("realtime_sockets_dropped_total", "Sockets the hub closed on its own", ["reason"])
