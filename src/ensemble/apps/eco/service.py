"""ECO² accounts: the user row of a new account, and the audit of every login."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.auth import REALM
from ensemble.apps.eco.models import Role, User
from ensemble.apps.eco.tasks import audit_login
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account


async def add_user(session: AsyncSession, account: Account, role: Role = Role.USER) -> User:
    """The ECO² user of a new account (the kernel's sign-up hook)."""
    user = User(account_id=account.id, role=role)
    session.add(user)
    await session.flush()
    return user


async def sign_up(
    session: AsyncSession, *, email: str, password: str, role: Role = Role.USER
) -> tuple[Account, User]:
    """A new account of the `eco` realm and its user (409 `email_taken` if it exists)."""
    account = await identity.create_account(session, realm=REALM, email=email, password=password)
    return account, await add_user(session, account, role)


async def audit(session: AsyncSession, login: identity.Login) -> None:
    """Every login is audited by the `auth.audit` job after commit (the kernel's login hook)."""
    await audit_login.enqueue(
        session,
        audit_id=str(new_id()),
        account_id=str(login.account_id),
        client_address=login.client_address,
        user_agent=login.user_agent,
        logged_in_at=utcnow().isoformat(),
    )


async def account_of(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await session.get(Account, account_id)
    assert account is not None  # the principal was resolved from it
    return account
