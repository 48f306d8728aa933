"""Every Casino-Club auth rule in one place: own accounts (realm `casino`) logging in by
nickname, access tokens of `CASINO_ACCESS_TOKEN_MINUTES`, the token's session checked
against the revoked sessions on each request, the rank read live (cached per process,
forgotten when a rank changes) and ranks checked with `require_rank`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.admin.models import MemberStatus
from ensemble.apps.casino.domain import Rank, UserStatus, login_name, rank_reaches
from ensemble.apps.casino.models import User
from ensemble.apps.casino.schemas import NicknameLogin
from ensemble.apps.casino.settings import CasinoDep
from ensemble.kernel.errors import Forbidden
from ensemble.kernel.identity.cache import watch_tables
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import (
    AccountDisabled,
    Principal,
    PrincipalResolver,
    bearer,
    codec_for,
    own_accounts,
)
from ensemble.kernel.identity.schemas import Credentials
from ensemble.kernel.identity.tokens import TokenCodec

REALM = "casino"


class RankTooLow(Forbidden):
    code = "rank_forbidden"
    message = "Your rank does not allow this."


async def claims_of(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The Casino-Club claims of a token: the rank (informational: requests read it live).
    A suspended or deleted member gets no token (login and refresh: `account_disabled`)."""
    user = await session.get(User, account.id)
    status = await session.get(MemberStatus, account.id)
    if user is None or (status is not None and status.status is not UserStatus.ACTIVE):
        raise AccountDisabled()
    return {"role": user.rank.value, "nickname": user.nickname}


async def nickname_credentials(body: NicknameLogin) -> Credentials:
    """`POST /api/auth/login`'s body, `{nickname, password}`, as the kernel's credentials."""
    return Credentials(login_name(body.nickname), body.password)


async def casino_codec(request: Request, casino: CasinoDep) -> TokenCodec:
    """The kernel's codec with Casino-Club's access-token lifetime (capped by the kernel's:
    a revoked session is remembered only that long)."""
    codec = codec_for(request.state.settings)
    minutes = timedelta(minutes=casino.settings.access_token_minutes)
    return replace(codec, access_ttl=min(codec.access_ttl, minutes))


_PRINCIPAL = (
    select(User.rank, Account.is_active, MemberStatus.status)
    .join(Account, Account.id == User.account_id)
    .outerjoin(MemberStatus, MemberStatus.user_id == User.account_id)
    .where(User.account_id == bindparam("account_id", type_=Uuid))
)


async def _live(session: AsyncSession, token: Principal) -> Principal:
    """The caller of a live session as it is now: an active member (neither suspended nor
    deleted by an admin, B6) and its rank."""
    found = (await session.execute(_PRINCIPAL, {"account_id": token.account_id})).first()
    if found is None or not found.is_active or found.status not in (None, UserStatus.ACTIVE):
        raise AccountDisabled()
    return replace(token, role=found.rank.value)


watch_tables(REALM, [User, Account, MemberStatus])
principal_of = own_accounts(REALM, _live)
"""The caller of a Casino-Club access token, for requests and sockets alike."""
current_principal = bearer(principal_of)
CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_rank(lowest: Rank) -> PrincipalResolver:
    """A dependency letting through members of rank `lowest` or above (`ADMIN` passes
    all): 401 without a valid token, 403 `rank_forbidden` below the rank."""

    async def ranked(principal: CurrentUser) -> Principal:
        if not rank_reaches(Rank(principal.role), lowest):
            raise RankTooLow(details={"required": lowest.value, "rank": principal.role})
        return principal

    return ranked


Admin = Annotated[Principal, Depends(require_rank(Rank.ADMIN))]
