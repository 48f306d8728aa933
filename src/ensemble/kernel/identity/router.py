"""`/auth/login`, `/auth/refresh`, `/auth/logout` for one realm, built by each app."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity import service
from ensemble.kernel.identity.principal import CodecDep
from ensemble.kernel.identity.schemas import LoginRequest, RefreshRequest, TokenResponse

_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Wrong credentials or token", "content": {"application/json": {}}},
}


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
            throttle=service.ThrottlePolicy.from_settings(request.state.settings),
        )
        return TokenResponse.of(pair)

    @router.post("/refresh")
    async def refresh(body: RefreshRequest, session: SessionDep, codec: CodecDep) -> TokenResponse:
        """Rotate a refresh token: the old one is spent; re-using it revokes the session."""
        pair = await service.rotate(
            session, body.refresh_token, realm=realm, codec=codec, claims=claims
        )
        return TokenResponse.of(pair)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(body: RefreshRequest, session: SessionDep, codec: CodecDep) -> Response:
        """Revoke the whole refresh-token family of this session."""
        await service.logout(session, body.refresh_token, realm=realm, codec=codec)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
