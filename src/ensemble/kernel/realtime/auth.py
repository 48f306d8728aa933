"""Authenticating a WebSocket before the app accepts it, and turning it away with a code.

A close code only reaches a client over an open WebSocket: a close sent before the handshake
becomes a bare HTTP 403 that browsers cannot read. So `refuse` completes the handshake and
closes at once, with `4401` (unauthenticated) or `4403` (forbidden); nothing is read from or
sent to the socket, and it never joins a channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.websockets import WebSocket, WebSocketState

from ensemble.kernel.errors import Forbidden, Unauthorized

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013  # the socket could not keep up with its channel
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_HEARTBEAT_TIMEOUT = 4408

T = TypeVar("T")


def websocket_token(websocket: WebSocket) -> str | None:
    """The bearer token of a connection: `?token=…`, else `Authorization: Bearer …`."""
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def refuse(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close a connection the app did not accept, so the client sees `code` and `reason`."""
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept()
    await websocket.close(code=code, reason=reason[:120])


async def authenticate(websocket: WebSocket, verify: Callable[[str], Awaitable[T]]) -> T | None:
    """`verify(token)` for a connection not yet accepted; on failure refuse it and return None.

    A missing token or an `Unauthorized` from `verify` closes with 4401, a `Forbidden` with
    4403; the reason is the error's code (for example `token_expired`).
    """
    token = websocket_token(websocket)
    if token is None:
        await refuse(websocket, CLOSE_UNAUTHENTICATED, "not_authenticated")
        return None
    try:
        return await verify(token)
    except Unauthorized as exc:
        await refuse(websocket, CLOSE_UNAUTHENTICATED, exc.code)
    except Forbidden as exc:
        await refuse(websocket, CLOSE_FORBIDDEN, exc.code)
    return None
