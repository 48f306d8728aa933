"""`/auth/login`, `/auth/refresh`, `/auth/logout` for one realm, built by each app."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity import service
from ensemble.kernel.identity.address import ClientAddress
from ensemble.kernel.identity.principal import CodecDep
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.schemas import LoginRequest, RefreshRequest, TokenResponse

_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Wrong credentials or token", "content": {"application/json": {}}},
}


def no_store(response: Response) -> None:
    """A dependency marking a response that carries tokens as never to be cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


TOKEN_RESPONSE = [Depends(no_store)]
"""`dependencies=` of every route that answers with tokens."""


def auth_router(realm: str, claims: service.ClaimsLoader, prefix: str = "/auth") -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["auth"], responses=_AUTH_ERRORS)

    @router.post(
        "/login",
        responses={429: {"description": "Too many failed attempts"}},
        dependencies=TOKEN_RESPONSE,
    )
    async def login(
        body: LoginRequest,
        request: Request,
        address: ClientAddress,
        session: SessionDep,
        codec: CodecDep,
    ) -> TokenResponse:
        """Exchange email and password for an access and a refresh token."""
        pair = await service.login(
            session,
            realm=realm,
            email=body.email,
            password=body.password,
            client_address=address,
            codec=codec,
            claims=claims,
            throttle=service.ThrottlePolicy.from_settings(request.state.settings),
        )
        return TokenResponse.of(pair)

    @router.post("/refresh", dependencies=TOKEN_RESPONSE)
    async def refresh(
        body: RefreshRequest, session: SessionDep, codec: CodecDep, revocations: RevocationsDep
    ) -> TokenResponse:
        """Rotate a refresh token: the old one is spent; re-using it revokes the session."""
        pair = await service.rotate(
            session,
            body.refresh_token,
            realm=realm,
            codec=codec,
            claims=claims,
            revocations=revocations,
        )
        return TokenResponse.of(pair)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(
        body: RefreshRequest, session: SessionDep, codec: CodecDep, revocations: RevocationsDep
    ) -> Response:
        """End this session: its refresh-token family and its access tokens, at once."""
        await service.logout(
            session, body.refresh_token, realm=realm, codec=codec, revocations=revocations
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
