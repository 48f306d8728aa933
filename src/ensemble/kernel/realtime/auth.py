"""Authenticating a WebSocket before the app takes it, and turning it away with a code.

The access token may come, so that clients can keep it out of URLs (and logs):
- in the subprotocols, `Sec-WebSocket-Protocol: bearer, <token>` (a browser's
  `new WebSocket(url, ["bearer", token])`); the server answers with `bearer`;
- in `Authorization: Bearer <token>` (clients that can set headers);
- as the first message, `{"type": "auth", "token": "<token>"}`, within `auth_timeout`;
- in the query, `?token=` (kept for old clients; logs redact it).

A close code only reaches a client over an open WebSocket: a close sent before the handshake
becomes a bare HTTP 403 that browsers cannot read. So `refuse` completes the handshake and
closes at once, with `4401` (unauthenticated) or `4403` (forbidden); a refused socket never
joins a channel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ensemble.kernel.errors import Forbidden, Unauthorized
from ensemble.kernel.identity.principal import Principal, TokenResolver, resolve_principal

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013  # the socket could not keep up with its channel
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_HEARTBEAT_TIMEOUT = 4408
BEARER_SUBPROTOCOL = "bearer"
AUTH_MESSAGE = "auth"
DEFAULT_AUTH_TIMEOUT_S = 10.0

T = TypeVar("T")


def websocket_token(websocket: WebSocket) -> str | None:
    """The bearer token offered with the handshake: the subprotocols, the `Authorization`
    header or `?token=` (None: it may come as the first message)."""
    offered = websocket.scope.get("subprotocols") or []
    if len(offered) == 2 and offered[0] == BEARER_SUBPROTOCOL:
        return str(offered[1])
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return websocket.query_params.get("token") or None


async def accept(websocket: WebSocket) -> None:
    """Complete the handshake (once), choosing `bearer` if the client offered it."""
    if websocket.client_state == WebSocketState.CONNECTING:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None)


async def refuse(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close a connection the app did not take, so the client sees `code` and `reason`."""
    await accept(websocket)
    if websocket.client_state != WebSocketState.DISCONNECTED:
        await websocket.close(code=code, reason=reason[:120])


async def _first_message_token(websocket: WebSocket, within: float) -> str | None:
    """The token of an `{"type": "auth", "token": …}` first message, or None."""
    await accept(websocket)
    try:
        async with asyncio.timeout(within):
            message = json.loads(await websocket.receive_text())
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):
        return None
    if not isinstance(message, dict) or message.get("type") != AUTH_MESSAGE:
        return None
    token = message.get("token")
    return token if isinstance(token, str) and token else None


async def authenticate(
    websocket: WebSocket,
    verify: Callable[[str], Awaitable[T]],
    *,
    auth_timeout: float = DEFAULT_AUTH_TIMEOUT_S,
) -> T | None:
    """`verify(token)` for a connection the app has not taken yet; on failure refuse it and
    return None.

    A token offered with the handshake is verified before accepting; otherwise the socket is
    accepted and its first message must carry one within `auth_timeout` seconds. A missing
    token or an `Unauthorized` from `verify` closes with 4401, a `Forbidden` with 4403; the
    reason is the error's code (for example `token_expired`).
    """
    token = websocket_token(websocket)
    if token is None:
        token = await _first_message_token(websocket, auth_timeout)
    if token is None:
        await refuse(websocket, CLOSE_UNAUTHENTICATED, "not_authenticated")
        return None
    try:
        verified = await verify(token)
    except Unauthorized as exc:
        await refuse(websocket, CLOSE_UNAUTHENTICATED, exc.code)
    except Forbidden as exc:
        await refuse(websocket, CLOSE_FORBIDDEN, exc.code)
    else:
        await accept(websocket)
        return verified
    return None


async def authenticate_principal(websocket: WebSocket, resolve: TokenResolver) -> Principal | None:
    """`authenticate` with the app's `resolve`, as its HTTP routes do (`bearer`), in a unit
    of work of its own; the wait for a first-message token is the configured one."""
    state = websocket.state

    async def verify(token: str) -> Principal:
        async with state.database.unit_of_work() as session:
            return await resolve_principal(resolve, websocket, session, token)

    timeout = state.settings.realtime_auth_timeout_seconds
    return await authenticate(websocket, verify, auth_timeout=timeout)
