"""Who is calling: the `Principal` resolved from a bearer token, and role checks."""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, Unauthorized
from ensemble.kernel.identity.cache import AuthCache, SessionRevoked, auth_cache
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.identity.tokens import TokenCodec, claimed_id
from ensemble.kernel.observability.context import current_request_context
from ensemble.settings import Settings


@dataclass(frozen=True)
class Principal:
    """The caller, in every app: its account (a realm's own account, or the app's user a
    provider's token maps to), realm, live role and the token's claims."""

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
"""A FastAPI dependency answering the caller (`bearer`, `require_roles`)."""
PrincipalLoader = Callable[[AsyncSession, Principal], Awaitable[Principal]]
"""An app's word on a token's principal, read from its database: the principal as it is now
(for example its live role), or a refusal (for example `AccountDisabled`)."""
TokenResolver = Callable[[HTTPConnection, AsyncSession, str], Awaitable[Principal]]
"""How an app turns a bearer token into its caller; the same for requests and sockets."""
BearerToken = Callable[..., Awaitable[str]]
"""A dependency answering the bearer token of a request (`bearer_token`)."""


class AccountDisabled(Unauthorized):
    code = "account_disabled"
    message = "The account is disabled."


async def live_principal(
    session: AsyncSession,
    revocations: Revocations,
    claims: dict[str, Any],
    realm: str,
    cache: AuthCache | None = None,
) -> Principal:
    """The principal of verified access-token `claims`, unless its session was revoked
    (known to `cache` while it is on, else asked of `revocations`)."""
    account_id = claimed_id(claims, "sub")
    session_id = claimed_id(claims, "sid")
    revoked = cache.is_revoked(session_id) if cache is not None else None
    if revoked is None:
        revoked = await revocations.is_revoked(session, session_id)
    if revoked:
        raise SessionRevoked()
    return Principal(
        account_id=account_id, realm=realm, role=str(claims.get("role", "")), claims=claims
    )


def own_accounts(realm: str, load: PrincipalLoader) -> TokenResolver:
    """The resolver of the access tokens the kernel issues for `realm` (`auth_router`):
    verified, of a session not revoked (401 `session_revoked`), then as `load` sees them."""

    async def resolve(connection: HTTPConnection, session: AsyncSession, token: str) -> Principal:
        async def verified_and_loaded() -> Principal:
            settings = connection.state.settings
            claims = codec_for(settings).decode(token, realm=realm, typ="access")
            revocations = Revocations.of(connection.state.redis, settings)
            cache = auth_cache(connection)
            return await load(
                session, await live_principal(session, revocations, claims, realm, cache)
            )

        return await remembered_caller(connection, realm, token, verified_and_loaded)

    return resolve


async def remembered_caller(
    connection: HTTPConnection, realm: str, token: str, resolve: Callable[[], Awaitable[Principal]]
) -> Principal:
    """`resolve()`'s principal for `token`, kept by the process's `AuthCache` until the token
    expires, its session is revoked or the realm's tables change."""
    cache = auth_cache(connection)
    if cache is None:
        return await resolve()
    if (known := cache.caller(realm, token)) is not None:
        return cast(Principal, known)
    generation = cache.generation(realm)
    principal = await resolve()
    cache.remember_caller(realm, token, principal, principal.claims, generation)
    return principal


async def resolve_principal(
    resolve: TokenResolver, connection: HTTPConnection, session: AsyncSession, token: str
) -> Principal:
    """`resolve(token)`, the caller then named in the logs of the request or socket."""
    principal = await resolve(connection, session, token)
    current_request_context().user_id = str(principal.account_id)
    return principal


@dataclass(frozen=True)
class BearerScheme:
    """`Authorization: Bearer <token>` as OpenAPI documents it, and the dependency answering
    its token (401 `not_authenticated` without one)."""

    scheme: HTTPBearer
    token: BearerToken


def required_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized("A bearer access token is required.", code="not_authenticated")
    return credentials.credentials


def bearer_token(description: str) -> BearerScheme:
    """The bearer scheme documented with `description`."""
    scheme = HTTPBearer(auto_error=False, description=description)

    async def token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> str:
        return required_token(credentials)

    return BearerScheme(scheme, token)


ACCESS_TOKEN = bearer_token("An access token from `/auth/login`.")
AccessCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(ACCESS_TOKEN.scheme)]
"""The credentials of `ACCESS_TOKEN`, for a dependency that resolves its caller itself with
the resolver `bearer` made (one dependency fewer for FastAPI to solve)."""


def bearer(resolve: TokenResolver, scheme: BearerScheme = ACCESS_TOKEN) -> PrincipalResolver:
    """A dependency resolving the caller from the bearer token with `resolve`. It reads the
    scheme's credentials itself rather than through `scheme.token`: one dependency fewer
    for FastAPI to solve on every authenticated request."""

    async def current_principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme.scheme)],
        session: SessionDep,
    ) -> Principal:
        return await resolve_principal(resolve, request, session, required_token(credentials))

    return current_principal


def require_roles(resolver: PrincipalResolver, *roles: str) -> PrincipalResolver:
    """A dependency that lets through only principals holding one of `roles` (else 403)."""

    async def role_checked(principal: Annotated[Principal, Depends(resolver)]) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden("Your role does not allow this.", code="role_forbidden")
        return principal

    return role_checked
