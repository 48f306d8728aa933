"""Focus Mate's app-wide use cases: accounts, users and their settings. Never commit."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.auth import REALM
from ensemble.apps.focus.domain import (
    merged_preferences,
    notification_preferences,
)
from ensemble.apps.focus.models import FocusSession, Role, User, UserSettings
from ensemble.apps.focus.schemas import PasswordChange, SettingsUpdate, UserUpdate
from ensemble.kernel.errors import Forbidden, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.passwords import verify_password
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.identity.service import ThrottlePolicy
from ensemble.kernel.identity.throttle import Limit, charge, forgive
from ensemble.kernel.identity.tokens import claimed_id
from ensemble.kernel.schemas import Extended


class WrongPassword(Forbidden):
    code = "wrong_password"
    message = "The current password is wrong."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "The user does not exist."


def default_display_name(email: str) -> str:
    """What a new user is called until they choose: the part of the email before `@`."""
    return email.split("@", 1)[0][:50] or "focus user"


async def add_user(session: AsyncSession, account: Account, role: Role = Role.USER) -> User:
    """The Focus Mate user of a new account and its default settings (the sign-up hook)."""
    user = User(account_id=account.id, display_name=default_display_name(account.email), role=role)
    session.add(user)
    session.add(UserSettings(account_id=account.id))
    await session.flush()
    return user


async def sign_up(
    session: AsyncSession, *, email: str, password: str, role: Role = Role.USER
) -> tuple[Account, User]:
    """A new account of the `focus` realm and its user (409 `email_taken` if it exists)."""
    account = await identity.create_account(session, realm=REALM, email=email, password=password)
    return account, await add_user(session, account, role)


async def me(session: AsyncSession, account_id: uuid.UUID) -> Extended:
    """The caller's user with its account's email, for `UserPublic`."""
    user = await session.get(User, account_id)
    account = await session.get(Account, account_id)
    assert user is not None  # the principal was resolved from both
    assert account is not None
    return Extended(user, email=account.email)


async def update_me(session: AsyncSession, account_id: uuid.UUID, patch: UserUpdate) -> Extended:
    user = await session.get(User, account_id)
    assert user is not None  # the principal was resolved from it
    user.display_name = patch.display_name
    await session.flush()
    return await me(session, account_id)


async def change_password(
    session: AsyncSession,
    caller: Principal,
    change: PasswordChange,
    *,
    revocations: Revocations,
    throttle: ThrottlePolicy,
) -> None:
    """The caller's new password, given the current one (403 `wrong_password`; 429
    `password_throttled` after too many wrong ones): every other session of the account
    ends, the caller's own goes on."""
    attempts = f"password:{caller.account_id}"
    await charge(
        session,
        realm=REALM,
        limits=[Limit(attempts, throttle.max_failures)],
        window=throttle.window,
        code="password_throttled",
        message="Too many wrong passwords; try again later.",
    )
    account = await session.get(Account, caller.account_id)
    assert account is not None
    if not await verify_password(change.current_password, account.password_hash):
        raise WrongPassword()
    await forgive(session, realm=REALM, reset=attempts)
    await identity.set_password(
        session,
        account,
        change.new_password,
        revocations,
        keep=claimed_id(caller.claims, "sid"),
    )


async def profile(session: AsyncSession, user_id: uuid.UUID) -> Extended:
    """What anyone sees of a user (404 `user_not_found` for a suspended one too), with its
    focus totals."""
    user = await session.get(User, user_id)
    if user is None or user.suspended_at is not None:
        raise UserNotFound()
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(FocusSession.focus_seconds), 0).label("seconds"),
                func.count().filter(FocusSession.completed.is_(True)).label("completed"),
            ).where(FocusSession.user_id == user_id, FocusSession.ended_at.is_not(None))
        )
    ).one()
    return Extended(user, focus_minutes=totals.seconds // 60, sessions=totals.completed)


# settings


async def _settings_row(session: AsyncSession, account_id: uuid.UUID) -> UserSettings:
    row = await session.get(UserSettings, account_id)
    assert row is not None  # written with the user (`add_user`)
    return row


async def settings_of(session: AsyncSession, account_id: uuid.UUID) -> Extended:
    """A user's settings, every notification choice spelled out, for `SettingsPublic`."""
    row = await _settings_row(session, account_id)
    return Extended(row, notifications=notification_preferences(row.notifications))


async def update_settings(
    session: AsyncSession, account_id: uuid.UUID, patch: SettingsUpdate
) -> Extended:
    row = await _settings_row(session, account_id)
    changes = patch.changes()
    if "notifications" in changes:
        changes["notifications"] = merged_preferences(row.notifications, changes["notifications"])
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    return await settings_of(session, account_id)
