"""Accounts, login with throttling, refresh rotation with reuse detection, logout.

Each realm (app) supplies a `ClaimsLoader` that turns an account into the app's own claims
(role, stores, …) and refuses accounts the app has disabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, TooManyRequests, Unauthorized
from ensemble.kernel.identity.models import Account, LoginFailure, RefreshToken
from ensemble.kernel.identity.passwords import hash_password, verify_password
from ensemble.kernel.identity.tokens import TokenCodec
from ensemble.settings import Settings

ClaimsLoader = Callable[[AsyncSession, Account], Awaitable[dict[str, Any]]]


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is wrong."
    keeps_changes = True  # the failure itself must be recorded for throttling


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; the session has been revoked."
    keeps_changes = True  # the family revocation must survive the error response


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    max_failures_per_address: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_ip,
            window=timedelta(seconds=settings.login_window_seconds),
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_account(session: AsyncSession, realm: str, email: str) -> Account | None:
    stmt = select(Account).where(Account.realm == realm, Account.email == normalise_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_account(
    session: AsyncSession, *, realm: str, email: str, password: str
) -> Account:
    if await find_account(session, realm, email) is not None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    account = Account(
        id=new_id(),
        realm=realm,
        email=normalise_email(email),
        password_hash=await hash_password(password),
    )
    session.add(account)
    await session.flush()
    return account


async def set_password(session: AsyncSession, account: Account, password: str) -> None:
    account.password_hash = await hash_password(password)
    await revoke_all_sessions(session, account.id)


async def revoke_all_sessions(session: AsyncSession, account_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _recent_failures(session: AsyncSession, realm: str, subject: str, since: datetime) -> int:
    stmt = select(func.count()).where(
        LoginFailure.realm == realm,
        LoginFailure.subject == subject,
        LoginFailure.failed_at >= since,
    )
    return int((await session.execute(stmt)).scalar_one())


async def _check_throttle(
    session: AsyncSession, realm: str, subjects: dict[str, int], window: timedelta
) -> None:
    since = utcnow() - window
    for subject, limit in subjects.items():
        if await _recent_failures(session, realm, subject, since) >= limit:
            raise TooManyRequests(
                "Too many failed logins; try again later.",
                code="login_throttled",
                headers={"Retry-After": str(int(window.total_seconds()))},
            )


async def login(
    session: AsyncSession,
    *,
    realm: str,
    email: str,
    password: str,
    client_address: str,
    codec: TokenCodec,
    claims: ClaimsLoader,
    throttle: ThrottlePolicy,
) -> TokenPair:
    """Verify credentials (same answer for unknown email and wrong password) and issue a pair."""
    email_key, address_key = f"email:{normalise_email(email)}", f"addr:{client_address}"
    await _check_throttle(
        session,
        realm,
        {email_key: throttle.max_failures, address_key: throttle.max_failures_per_address},
        throttle.window,
    )
    account = await find_account(session, realm, email)
    valid = await verify_password(password, account.password_hash if account else None)
    if account is None or not valid or not account.is_active:
        session.add_all(
            [LoginFailure(realm=realm, subject=key) for key in (email_key, address_key)]
        )
        raise InvalidCredentials()
    await session.execute(
        delete(LoginFailure).where(LoginFailure.realm == realm, LoginFailure.subject == email_key)
    )
    return await _issue_pair(session, account, family_id=new_id(), codec=codec, claims=claims)


async def _issue_pair(
    session: AsyncSession,
    account: Account,
    *,
    family_id: uuid.UUID,
    codec: TokenCodec,
    claims: ClaimsLoader,
) -> TokenPair:
    now = utcnow()
    extra = {"email": account.email, **await claims(session, account)}
    refresh_jti = new_id()
    session.add(
        RefreshToken(
            jti=refresh_jti,
            family_id=family_id,
            account_id=account.id,
            issued_at=now,
            expires_at=now + codec.refresh_ttl,
        )
    )
    await session.flush()
    access = codec.encode(
        typ="access", realm=account.realm, subject=account.id, jti=new_id(), now=now, extra=extra
    )
    refresh = codec.encode(
        typ="refresh", realm=account.realm, subject=account.id, jti=refresh_jti, now=now
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(codec.access_ttl.total_seconds()),
    )


async def _locked_refresh_token(
    session: AsyncSession, token: str, *, realm: str, codec: TokenCodec
) -> RefreshToken:
    payload = codec.decode(token, realm=realm, typ="refresh")
    try:
        jti = uuid.UUID(payload["jti"])
    except ValueError as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc
    stmt = select(RefreshToken).where(RefreshToken.jti == jti).with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    return row


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def rotate(
    session: AsyncSession, token: str, *, realm: str, codec: TokenCodec, claims: ClaimsLoader
) -> TokenPair:
    """Exchange a refresh token for a new pair; a second use of it revokes its whole family."""
    row = await _locked_refresh_token(session, token, realm=realm, codec=codec)
    if row.revoked_at is not None:
        raise Unauthorized("This session has been revoked.", code="session_revoked")
    if row.used_at is not None:
        await _revoke_family(session, row.family_id)
        raise RefreshTokenReused()
    account = await session.get(Account, row.account_id)
    if account is None or not account.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    row.used_at = utcnow()
    return await _issue_pair(session, account, family_id=row.family_id, codec=codec, claims=claims)


async def logout(session: AsyncSession, token: str, *, realm: str, codec: TokenCodec) -> None:
    row = await _locked_refresh_token(session, token, realm=realm, codec=codec)
    await _revoke_family(session, row.family_id)
