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

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, NotFound, Unauthorized
from ensemble.kernel.identity.cache import revoke_on_commit
from ensemble.kernel.identity.models import Account, RefreshToken
from ensemble.kernel.identity.passwords import hash_password, verify_password
from ensemble.kernel.identity.principal import AccountDisabled
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.identity.throttle import Limit, charge, forgive
from ensemble.kernel.identity.tokens import TokenCodec, claimed_id
from ensemble.settings import Settings

ClaimsLoader = Callable[[AsyncSession, Account], Awaitable[dict[str, Any]]]
_UNIQUE_EMAIL = "uq_accounts_realm"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is wrong."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; the session has been revoked."
    keeps_changes = True  # the family revocation must survive the error response


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    max_failures_per_address: int
    window: timedelta
    max_signups_per_address: int
    signup_window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_ip,
            window=timedelta(seconds=settings.login_window_seconds),
            max_signups_per_address=settings.signup_max_per_ip,
            signup_window=timedelta(seconds=settings.signup_window_seconds),
        )


@dataclass(frozen=True)
class Login:
    """A successful login, as an app's `on_login` hook sees it (`router.auth_router`)."""

    account_id: uuid.UUID
    client_address: str
    user_agent: str | None


LoginHook = Callable[[AsyncSession, Login], Awaitable[None]]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    account_id: uuid.UUID


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_account(session: AsyncSession, realm: str, email: str) -> Account | None:
    stmt = select(Account).where(Account.realm == realm, Account.email == normalise_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_account(
    session: AsyncSession, *, realm: str, email: str, password: str
) -> Account:
    """A new account; 409 `email_taken` if the email has one, also when two sign-ups race."""
    if await find_account(session, realm, email) is not None:
        raise EmailTaken()
    account = Account(
        id=new_id(),
        realm=realm,
        email=normalise_email(email),
        password_hash=await hash_password(password),
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError as exc:
        if _violated_constraint(exc) == _UNIQUE_EMAIL:
            raise EmailTaken() from exc
        raise
    return account


def _violated_constraint(exc: IntegrityError) -> str | None:
    name = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None


async def throttle_signup(
    session: AsyncSession, *, realm: str, client_address: str, throttle: ThrottlePolicy
) -> None:
    """Count a sign-up attempt from `client_address`; 429 `signup_throttled` past the limit."""
    await charge(
        session,
        realm=realm,
        limits=[Limit(f"signup:{client_address}", throttle.max_signups_per_address)],
        window=throttle.signup_window,
        code="signup_throttled",
        message="Too many sign-ups from your address; try again later.",
    )


async def set_password(
    session: AsyncSession,
    account: Account,
    password: str,
    revocations: Revocations,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """A new password ends every session of the account but `keep` (the session, a token's
    `sid`, of a user changing their own password: they stay signed in there)."""
    account.password_hash = await hash_password(password)
    await revoke_all_sessions(session, account.id, revocations, keep=keep)


async def revoke_all_sessions(
    session: AsyncSession,
    account_id: uuid.UUID,
    revocations: Revocations,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """End every session of the account but `keep`: no refresh, and their access tokens
    refused at once."""
    which = RefreshToken.account_id == account_id
    if keep is not None:
        which = and_(which, RefreshToken.family_id != keep)
    await _revoke(session, revocations, which)


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = "No such live session of yours."


@dataclass(frozen=True)
class LiveSession:
    """A session (a refresh-token family) that can still refresh: when it was opened, last
    refreshed, and until when it lasts unless refreshed again."""

    session_id: uuid.UUID
    started_at: datetime
    refreshed_at: datetime
    expires_at: datetime


async def live_sessions(session: AsyncSession, account_id: uuid.UUID) -> list[LiveSession]:
    """The account's sessions neither revoked nor expired, the newest first."""
    family = RefreshToken.family_id
    last_expiry = func.max(RefreshToken.expires_at)
    rows = await session.execute(
        select(
            family,
            func.min(RefreshToken.issued_at),
            func.max(RefreshToken.issued_at),
            last_expiry,
        )
        .where(RefreshToken.account_id == account_id)
        .group_by(family)
        .having(func.bool_and(RefreshToken.revoked_at.is_(None)), last_expiry > utcnow())
        .order_by(func.max(RefreshToken.issued_at).desc(), family)
    )
    return [LiveSession(*row) for row in rows]


async def revoke_session(
    session: AsyncSession,
    account_id: uuid.UUID,
    session_id: uuid.UUID,
    revocations: Revocations,
) -> None:
    """End one live session of the account: no refresh, its access tokens refused at once
    (404 `session_not_found` if the account has no such live session)."""
    live = {each.session_id for each in await live_sessions(session, account_id)}
    if session_id not in live:
        raise SessionNotFound()
    await _revoke(
        session,
        revocations,
        and_(RefreshToken.account_id == account_id, RefreshToken.family_id == session_id),
    )


async def _revoke(
    session: AsyncSession, revocations: Revocations, which: ColumnElement[bool]
) -> None:
    revoked = await session.scalars(
        update(RefreshToken)
        .where(which, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(RefreshToken.family_id)
    )
    sessions = set(revoked)
    revoke_on_commit(session.sync_session, sessions)
    await revocations.announce(sessions)


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
    """Verify credentials (same answer for unknown email and wrong password) and issue a pair.

    Every attempt is charged before the password is checked, per (email, address) and per
    address, and given back on success: parallel guesses cannot pass the limit, and guesses
    from one address do not lock the account out of another."""
    pair_key = f"login:{normalise_email(email)}|{client_address}"
    address_key = f"login-address:{client_address}"
    await charge(
        session,
        realm=realm,
        limits=[
            Limit(pair_key, throttle.max_failures),
            Limit(address_key, throttle.max_failures_per_address),
        ],
        window=throttle.window,
        code="login_throttled",
        message="Too many failed logins; try again later.",
    )
    account = await find_account(session, realm, email)
    valid = await verify_password(password, account.password_hash if account else None)
    if account is None or not valid or not account.is_active:
        raise InvalidCredentials()
    await forgive(session, realm=realm, reset=pair_key, refund=[address_key])
    return await open_session(session, account, codec=codec, claims=claims)


async def open_session(
    session: AsyncSession, account: Account, *, codec: TokenCodec, claims: ClaimsLoader
) -> TokenPair:
    """A new session of `account` and its first pair of tokens: what a login ends with, and
    what a realm whose sign-up logs the new account in calls itself."""
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
        typ="access",
        realm=account.realm,
        subject=account.id,
        jti=new_id(),
        now=now,
        session_id=family_id,
        extra=extra,
    )
    refresh = codec.encode(
        typ="refresh", realm=account.realm, subject=account.id, jti=refresh_jti, now=now
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(codec.access_ttl.total_seconds()),
        account_id=account.id,
    )


async def _locked_refresh_token(
    session: AsyncSession, token: str, *, realm: str, codec: TokenCodec
) -> RefreshToken:
    jti = claimed_id(codec.decode(token, realm=realm, typ="refresh"), "jti")
    stmt = select(RefreshToken).where(RefreshToken.jti == jti).with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    return row


async def rotate(
    session: AsyncSession,
    token: str,
    *,
    realm: str,
    codec: TokenCodec,
    claims: ClaimsLoader,
    revocations: Revocations,
) -> TokenPair:
    """Exchange a refresh token for a new pair; a second use of it revokes its whole family."""
    row = await _locked_refresh_token(session, token, realm=realm, codec=codec)
    if row.revoked_at is not None:
        raise Unauthorized("This session has been revoked.", code="session_revoked")
    if row.used_at is not None:
        await _revoke(session, revocations, RefreshToken.family_id == row.family_id)
        raise RefreshTokenReused()
    account = await session.get(Account, row.account_id)
    if account is None or not account.is_active:
        raise AccountDisabled()
    row.used_at = utcnow()
    return await _issue_pair(session, account, family_id=row.family_id, codec=codec, claims=claims)


async def logout(
    session: AsyncSession,
    token: str,
    *,
    realm: str,
    codec: TokenCodec,
    revocations: Revocations,
    owner: uuid.UUID | None = None,
) -> None:
    """End the session of `token`: its family is revoked and its access tokens refused.
    With `owner`, only a refresh token of that account is taken (else 401 `invalid_token`)."""
    row = await _locked_refresh_token(session, token, realm=realm, codec=codec)
    if owner is not None and row.account_id != owner:
        raise Unauthorized("The refresh token is not yours.", code="invalid_token")
    await _revoke(session, revocations, RefreshToken.family_id == row.family_id)
