"""ECO² accounts: sign-up, login (with its audit written by a job), refresh and logout."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.auth import REALM, claims_of
from ensemble.apps.eco.models import Role, User
from ensemble.apps.eco.tasks import audit_login
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Unauthorized
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.identity.tokens import TokenCodec
from ensemble.kernel.jobs import enqueue
from ensemble.settings import Settings


async def sign_up(
    session: AsyncSession, *, email: str, password: str, role: Role = Role.USER
) -> tuple[Account, User]:
    """A new account of the `eco` realm and its user (409 `email_taken` if it exists)."""
    account = await identity.create_account(session, realm=REALM, email=email, password=password)
    user = User(account_id=account.id, role=role)
    session.add(user)
    await session.flush()
    return account, user


async def register(
    session: AsyncSession, *, email: str, password: str, client_address: str, settings: Settings
) -> tuple[Account, User]:
    """A sign-up over HTTP: throttled per client address, then `sign_up`."""
    throttle = identity.ThrottlePolicy.from_settings(settings)
    await identity.throttle_signup(
        session, realm=REALM, client_address=client_address, throttle=throttle
    )
    return await sign_up(session, email=email, password=password)


async def log_in(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    client_address: str,
    user_agent: str | None,
    codec: TokenCodec,
    settings: Settings,
) -> identity.TokenPair:
    """Tokens for valid credentials; the login is audited by the `auth.audit` job after commit."""
    pair = await identity.login(
        session,
        realm=REALM,
        email=email,
        password=password,
        client_address=client_address,
        codec=codec,
        claims=claims_of,
        throttle=identity.ThrottlePolicy.from_settings(settings),
    )
    account = await identity.find_account(session, REALM, email)
    assert account is not None
    await enqueue(
        session,
        audit_login,
        audit_id=str(new_id()),
        account_id=str(account.id),
        client_address=client_address,
        user_agent=user_agent,
        logged_in_at=utcnow().isoformat(),
    )
    return pair


async def log_out(
    session: AsyncSession,
    principal: Principal,
    refresh_token: str,
    codec: TokenCodec,
    revocations: Revocations,
) -> None:
    """End the refresh token's session (its access tokens too, this one included)."""
    refresh = codec.decode(refresh_token, realm=REALM, typ="refresh")
    if refresh.get("sub") != str(principal.account_id):
        raise Unauthorized("The refresh token is not yours.", code="invalid_token")
    await identity.logout(session, refresh_token, realm=REALM, codec=codec, revocations=revocations)


async def refresh(
    session: AsyncSession, refresh_token: str, codec: TokenCodec, revocations: Revocations
) -> identity.TokenPair:
    return await identity.rotate(
        session, refresh_token, realm=REALM, codec=codec, claims=claims_of, revocations=revocations
    )


async def account_of(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await session.get(Account, account_id)
    assert account is not None  # the principal was resolved from it
    return account
