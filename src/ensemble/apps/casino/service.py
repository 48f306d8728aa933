"""Casino-Club's app-wide use cases: invites, members and their accounts, sessions, wallets
and profiles. Never commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import (
    COINS,
    CURRENCIES,
    SIGN_UP_KEY,
    InviteRefusal,
    Rank,
    Reason,
    invite_refusal,
    login_name,
)
from ensemble.apps.casino.models import InviteCode, User
from ensemble.apps.casino.schemas import PublicStats
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.identity.service import EmailTaken, Login
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.errors import InsufficientBalance
from ensemble.kernel.ledger.models import Account as LedgerAccount
from ensemble.kernel.ledger.models import Entry
from ensemble.kernel.schemas import Extended


class NicknameTaken(Conflict):
    code = "nickname_taken"
    message = "This nickname is taken."


class InviteRefused(Conflict):
    """409 `invite_<reason>`: the code cannot sign anyone up (see `InviteRefusal`)."""

    def __init__(self, reason: InviteRefusal) -> None:
        super().__init__(
            f"The invite code cannot be used: {reason.value}.",
            code=f"invite_{reason.value}",
            details={"reason": reason.value},
        )


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "The member does not exist."


# invites


async def invite_status(session: AsyncSession, code: str, *, forever: str) -> InviteRefusal | None:
    """Why `code` cannot sign anyone up now, or None if it can (`forever` always can)."""
    if code == forever:
        return None
    invite = await session.get(InviteCode, code)
    if invite is None:
        return InviteRefusal.UNKNOWN
    return invite_refusal(
        is_active=invite.is_active,
        uses=invite.uses,
        max_uses=invite.max_uses,
        expires_at=invite.expires_at,
        now=utcnow(),
    )


async def consume_invite(
    session: AsyncSession, code: str, account_id: uuid.UUID, *, forever: str
) -> None:
    """Spend one use of `code` for `account_id` (the forever code is never spent), or raise
    409 `invite_<reason>`. One statement checks and spends: of N sign-ups racing for a
    single-use code, the first to lock the row takes it and the others, re-reading it after
    that commit, match nothing."""
    if code == forever:
        return
    now = utcnow()
    spent = await session.scalar(
        update(InviteCode)
        .where(
            InviteCode.code == code,
            InviteCode.is_active.is_(True),
            InviteCode.uses < InviteCode.max_uses,
            (InviteCode.expires_at.is_(None)) | (InviteCode.expires_at > now),
        )
        .values(uses=InviteCode.uses + 1, used_by=account_id, used_at=now)
        .returning(InviteCode.code)
    )
    if spent is None:
        reason = await invite_status(session, code, forever=forever)
        raise InviteRefused(reason or InviteRefusal.USED)


# members


async def create_member(
    session: AsyncSession,
    *,
    nickname: str,
    password: str,
    signup_coins: int,
    rank: Rank = Rank.STANDARD,
    invite_code: str | None = None,
) -> tuple[Account, User]:
    """A new member: its kernel account (login by nickname), its row and the sign-up coins,
    granted once per member (409 `nickname_taken`, in any case, also when two race)."""
    try:
        account = await identity.create_account(
            session, realm=REALM, email=login_name(nickname), password=password
        )
    except EmailTaken as exc:
        raise NicknameTaken(details={"nickname": nickname}) from exc
    user = User(account_id=account.id, nickname=nickname, rank=rank, invite_code=invite_code)
    session.add(user)
    await session.flush()
    if signup_coins:
        coins = await ledger.open_account(session, realm=REALM, owner_id=account.id, currency=COINS)
        await ledger.earn(
            session,
            account_id=coins.id,
            amount=signup_coins,
            reason=Reason.SIGN_UP,
            idempotency_key=SIGN_UP_KEY,
        )
    return account, user


async def sign_up(
    session: AsyncSession,
    *,
    invite_code: str,
    nickname: str,
    password: str,
    signup_coins: int,
    forever_code: str,
) -> tuple[Account, User]:
    """A member signed up with an invite code, which it spends (unless it is the forever
    code); any refusal writes nothing."""
    account, user = await create_member(
        session,
        nickname=nickname,
        password=password,
        signup_coins=signup_coins,
        invite_code=invite_code,
    )
    await consume_invite(session, invite_code, account.id, forever=forever_code)
    from ensemble.apps.casino.rewards import service as rewards  # it builds on this module

    await rewards.start_streak(session, account.id, now=utcnow())
    return account, user


async def record_login(session: AsyncSession, login: Login) -> None:
    """The login hook: `last_login_at`, and the daily login reward of the member's first
    login of their day (A5). A plain UPDATE, not through the ORM: the time of a login
    changes no caller, so the process's auth cache is kept."""
    from ensemble.apps.casino.rewards import service as rewards  # it builds on this module

    now = utcnow()
    await session.execute(
        update(User).where(User.account_id == login.account_id).values(last_login_at=now)
    )
    await rewards.daily_login(session, login.account_id, now=now)


async def member(session: AsyncSession, user_id: uuid.UUID) -> User:
    """A member, or 404 `user_not_found`."""
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def wallet(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    """A member's balance in each currency (0 without an account yet)."""
    rows = await session.execute(
        select(LedgerAccount.currency, LedgerAccount.balance).where(
            LedgerAccount.owner_realm == REALM,
            LedgerAccount.owner_id == user_id,
            LedgerAccount.currency.in_(CURRENCIES),
        )
    )
    balances = dict.fromkeys(CURRENCIES, 0)
    balances.update({row.currency: row.balance for row in rows})
    return balances


async def me(session: AsyncSession, user_id: uuid.UUID) -> Extended:
    """The caller's member row with its wallet, for `MePublic`."""
    return Extended(await member(session, user_id), **await wallet(session, user_id))


async def profile(session: AsyncSession, user_id: uuid.UUID, *, own: bool) -> Extended:
    """A member's profile: everything for `own` (wallet, streak, unlocked achievements'
    keys), the public part for others (game stats of all time)."""
    # these domains read members from here
    from ensemble.apps.casino.achievements import service as achievements
    from ensemble.apps.casino.rewards import service as rewards
    from ensemble.apps.casino.sessions import service as play

    user = await member(session, user_id)
    played = await play.stats(session, user_id)
    stats = PublicStats(games_played=played.games_played, wins=played.wins)
    if not own:
        return Extended(user, stats=stats)
    unlocked = list(await achievements.unlocked_keys(session, user_id))
    balances = await wallet(session, user_id)
    streak = await rewards.current_streak(session, user_id, now=utcnow())
    return Extended(user, **balances, streak=streak, stats=stats, achievements=unlocked)


# sessions


async def force_logout(session: AsyncSession, user_id: uuid.UUID, revocations: Revocations) -> None:
    """End every session of a member at once (404 `user_not_found`)."""
    await member(session, user_id)
    await identity.revoke_all_sessions(session, user_id, revocations)


# wagers (the games' costs)


class NotEnoughCurrency(Conflict):
    """A play costs more than the member holds: the code names the currency
    (`insufficient_coins`, `insufficient_gems`)."""

    code = "insufficient_funds"
    message = "Your balance is too low for this."


async def charge(
    session: AsyncSession,
    user_id: uuid.UUID,
    currency: str,
    amount: int,
    *,
    reason: str,
    reference_id: str,
    idempotency_key: str,
) -> Entry:
    """Debit `amount` of a member's `currency` (409 `insufficient_<currency>`, nothing
    written), in the caller's transaction."""
    owner = AccountOwner(realm=REALM, owner_id=user_id, currency=currency)
    try:
        return await ledger.spend_by_owner(
            session,
            owner,
            amount=amount,
            reason=reason,
            reference_type="hand",
            reference_id=reference_id,
            idempotency_key=idempotency_key,
        )
    except InsufficientBalance as exc:
        raise NotEnoughCurrency(
            code=f"insufficient_{currency}", details={"currency": currency, "needed": amount}
        ) from exc
