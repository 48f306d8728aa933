"""`/auth/login`, `/auth/refresh`, `/auth/logout` for one realm, built by each app."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity import service
from ensemble.kernel.identity.principal import CodecDep
from ensemble.kernel.identity.schemas import LoginRequest, RefreshRequest, TokenResponse
from ensemble.settings import Settings

_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Wrong credentials or token", "content": {"application/json": {}}},
}


def _throttle_policy(settings: Settings) -> service.ThrottlePolicy:
    return service.ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_ip,
        window=timedelta(seconds=settings.login_window_seconds),
    )


def _token_response(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


def auth_router(realm: str, claims: service.ClaimsLoader, prefix: str = "/auth") -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["auth"], responses=_AUTH_ERRORS)

    @router.post(
        "/login",
        responses={429: {"description": "Too many failed attempts"}},
    )
    async def login(
        body: LoginRequest, request: Request, session: SessionDep, codec: CodecDep
    ) -> TokenResponse:
        """Exchange email and password for an access and a refresh token."""
        pair = await service.login(
            session,
            realm=realm,
            email=body.email,
            password=body.password,
            client_address=request.client.host if request.client else "unknown",
            codec=codec,
            claims=claims,
            throttle=_throttle_policy(request.state.settings),
        )
        return _token_response(pair)

    @router.post("/refresh")
    async def refresh(body: RefreshRequest, session: SessionDep, codec: CodecDep) -> TokenResponse:
        """Rotate a refresh token: the old one is spent; re-using it revokes the session."""
        pair = await service.rotate(
            session, body.refresh_token, realm=realm, codec=codec, claims=claims
        )
        return _token_response(pair)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(body: RefreshRequest, session: SessionDep, codec: CodecDep) -> Response:
        """Revoke the whole refresh-token family of this session."""
        await service.logout(session, body.refresh_token, realm=realm, codec=codec)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
