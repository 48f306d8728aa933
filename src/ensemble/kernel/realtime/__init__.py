"""Realtime: a WebSocket hub with cross-process fan-out over Redis pub/sub.

An endpoint authenticates before accepting (the token from the subprotocols, a header, the
first message or the query), then joins a channel with the token's lease (closed with 4401 at
its expiry or when its session is revoked) and reads the client's messages; anything may
`publish` to a channel (a request, a job, another process)::

    @router.websocket("/ws/things/{thing_id}")
    async def thing_socket(websocket: WebSocket, thing_id: str) -> None:
        who = await authenticate_principal(websocket, resolve)  # the app's `TokenResolver`
        if who is None:
            return  # refused with 4401 (or 4403)
        if not await may_watch(who, thing_id):
            return await refuse(websocket, CLOSE_FORBIDDEN, "not_a_member")
        lease = Lease.of_claims(who.claims)
        member = str(who.account_id)
        async with hub.connection(f"thing:{thing_id}", websocket, member, lease) as connection:
            async for message in connection.messages():
                await hub.publish(f"thing:{thing_id}", {...})

The hub pings each socket (`{"type":"ping"}`) every `heartbeat_interval` seconds; a client
answers with any frame (`{"type":"pong"}` is consumed by the hub) or is dropped with 4408.
"""

from ensemble.kernel.realtime.auth import (
    BEARER_SUBPROTOCOL,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    authenticate,
    authenticate_principal,
    refuse,
    websocket_token,
)
from ensemble.kernel.realtime.connection import Connection, Encoded, Lease
from ensemble.kernel.realtime.hub import Hub
from ensemble.kernel.realtime.publisher import Publisher

__all__ = [
    "BEARER_SUBPROTOCOL",
    "CLOSE_FORBIDDEN",
    "CLOSE_GOING_AWAY",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHENTICATED",
    "Connection",
    "Encoded",
    "Hub",
    "Lease",
    "Publisher",
    "authenticate",
    "authenticate_principal",
    "refuse",
    "websocket_token",
]
