"""B0 use cases for users and points, which every domain uses. Services never commit.

The catalogue, tickets and stays are in `travel/`, diaries and questionnaires in `journal/`,
the room chat in `chat/`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0 import repository
from ensemble.apps.b0.auth import REALM, user_of
from ensemble.apps.b0.domain import POINTS, SIGN_UP_BONUS, Reason
from ensemble.apps.b0.models import User
from ensemble.apps.b0.schemas import UserUpdate
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict
from ensemble.kernel.identity.external import ExternalIdentity
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.errors import InsufficientBalance
from ensemble.kernel.ledger.models import Entry
from ensemble.kernel.pagination import Page, PageRequest


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    message = "Not enough points."


async def points_account(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    account = await ledger.open_account(session, realm=REALM, owner_id=user_id, currency=POINTS)
    return account.id


async def balance(session: AsyncSession, user_id: uuid.UUID) -> int:
    account = await ledger.find_account(session, realm=REALM, owner_id=user_id, currency=POINTS)
    return account.balance if account else 0


async def earn(
    session: AsyncSession, user_id: uuid.UUID, amount: int, reason: str, *, key: str,
    reference: tuple[str, uuid.UUID] | None = None, description: str | None = None,
) -> Entry:  # fmt: skip
    """Grant points; the same `key` twice grants once (the original entry is returned)."""
    return await ledger.earn(
        session,
        account_id=await points_account(session, user_id),
        amount=amount,
        reason=reason,
        reference_type=reference[0] if reference else None,
        reference_id=str(reference[1]) if reference else None,
        description=description,
        idempotency_key=key,
    )


async def spend(
    session: AsyncSession, user_id: uuid.UUID, amount: int, reason: str, *, key: str,
    reference: tuple[str, uuid.UUID], description: str | None = None,
) -> Entry:  # fmt: skip
    """Spend points or raise `409 insufficient_points`; never below zero, exact under load.
    The account is found by the spend itself: one statement when the points are there."""
    try:
        return await ledger.spend_by_owner(
            session,
            AccountOwner(REALM, user_id, POINTS),
            amount=amount,
            reason=reason,
            reference_type=reference[0],
            reference_id=str(reference[1]),
            description=description,
            idempotency_key=key,
        )
    except InsufficientBalance as exc:
        raise InsufficientPoints(details=exc.details) from exc


async def register(session: AsyncSession, identity: ExternalIdentity) -> tuple[User, bool]:
    """The caller's user, created on first call with the sign-up bonus granted exactly once."""
    lock_key = f"{REALM}:{identity.provider}:{identity.subject}"
    await repository.advisory_lock(session, lock_key)
    existing = await user_of(session, identity)
    if existing is not None:
        return existing, False
    user = User(id=new_id(), email=identity.email)
    session.add(user)
    await session.flush()
    await repository.add_identity(session, user.id, identity.provider, identity.subject)
    await earn(session, user.id, SIGN_UP_BONUS, Reason.SIGN_UP, key="sign-up")
    return user, True


async def update_user(session: AsyncSession, user: User, patch: UserUpdate) -> User:
    for field, value in patch.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    user.updated_at = utcnow()
    await session.flush()
    return user


async def point_history(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[Entry]:
    account = await ledger.find_account(session, realm=REALM, owner_id=user_id, currency=POINTS)
    if account is None:
        return Page[Entry](items=[])
    return await ledger.entries_page(session, account.id, page)
