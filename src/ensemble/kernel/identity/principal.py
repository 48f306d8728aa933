"""Who is calling: the `Principal` resolved from a bearer token, and role checks."""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, Unauthorized
from ensemble.kernel.identity.revocation import Revocations, RevocationsDep
from ensemble.kernel.identity.tokens import TokenCodec, claimed_id
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


class SessionRevoked(Unauthorized):
    code = "session_revoked"
    message = "This session has been revoked."


async def live_principal(
    session: AsyncSession, revocations: Revocations, claims: dict[str, Any], realm: str
) -> Principal:
    """The principal of verified access-token `claims`, unless its session was revoked."""
    account_id = claimed_id(claims, "sub")
    if await revocations.is_revoked(session, claimed_id(claims, "sid")):
        raise SessionRevoked()
    current_request_context().user_id = str(account_id)
    return Principal(
        account_id=account_id, realm=realm, role=str(claims.get("role", "")), claims=claims
    )


def bearer_principal(realm: str) -> PrincipalResolver:
    """A dependency resolving the caller of `realm` from `Authorization: Bearer <access token>`
    (401 `session_revoked` once the token's session is revoked)."""

    async def current_principal(
        codec: CodecDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        revocations: RevocationsDep,
        session: SessionDep,
    ) -> Principal:
        if credentials is None:
            raise Unauthorized("A bearer access token is required.", code="not_authenticated")
        claims = codec.decode(credentials.credentials, realm=realm, typ="access")
        return await live_principal(session, revocations, claims, realm)

    return current_principal


def require_roles(resolver: PrincipalResolver, *roles: str) -> PrincipalResolver:
    """A dependency that lets through only principals holding one of `roles` (else 403)."""

    async def role_checked(principal: Annotated[Principal, Depends(resolver)]) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden("Your role does not allow this.", code="role_forbidden")
        return principal

    return role_checked
