"""Focus Mate's app-wide use cases: accounts and users. Never commit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.auth import REALM
from ensemble.apps.focus.models import Role, User, UserSettings
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.schemas import Extended


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
