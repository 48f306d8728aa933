"""Who is calling: the `Principal` resolved from a bearer token, and role checks."""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ensemble.kernel.errors import Forbidden, Unauthorized
from ensemble.kernel.identity.tokens import TokenCodec
from ensemble.kernel.observability.context import current_request_context
from ensemble.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An access token from `/auth/login`.")


@dataclass(frozen=True)
class Principal:
    account_id: uuid.UUID
    realm: str
    role: str
    claims: Mapping[str, Any]

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


async def token_codec(request: Request) -> TokenCodec:
    return codec_for(request.state.settings)


def codec_for(settings: Settings) -> TokenCodec:
    return TokenCodec(
        secret=settings.signing_key(),
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )


CodecDep = Annotated[TokenCodec, Depends(token_codec)]
PrincipalResolver = Callable[..., Awaitable[Principal]]


def bearer_principal(realm: str) -> PrincipalResolver:
    """A dependency resolving the caller of `realm` from `Authorization: Bearer <access token>`."""

    async def current_principal(
        codec: CodecDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise Unauthorized("A bearer access token is required.", code="not_authenticated")
        claims = codec.decode(credentials.credentials, realm=realm, typ="access")
        try:
            account_id = uuid.UUID(str(claims["sub"]))
        except ValueError as exc:
            raise Unauthorized("The token is not valid.", code="invalid_token") from exc
        current_request_context().user_id = str(account_id)
        return Principal(
            account_id=account_id, realm=realm, role=str(claims.get("role", "")), claims=claims
        )

    return current_principal


def require_roles(resolver: PrincipalResolver, *roles: str) -> PrincipalResolver:
    """A dependency that lets through only principals holding one of `roles` (else 403)."""

    async def role_checked(principal: Annotated[Principal, Depends(resolver)]) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden("Your role does not allow this.", code="role_forbidden")
        return principal

    return role_checked
