"""The admin's use cases: members (search, detail, rank and status, soft delete), the
catalogue's admin lists, banners, promo codes and invite batches. Every write records
itself in the audit log in its transaction. Never commit."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino import service as casino
from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.admin.models import MemberStatus
from ensemble.apps.casino.admin.schemas import BannerCreate
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.domain import Rank, UserStatus
from ensemble.apps.casino.gacha import service as gacha
from ensemble.apps.casino.gacha.models import Banner
from ensemble.apps.casino.models import Hand, InviteCode, User
from ensemble.apps.casino.rewards.models import Reward
from ensemble.apps.casino.shop.models import Product, PromoCode, Purchase
from ensemble.kernel.db import new_id
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, newest_first, paginate
from ensemble.kernel.schemas import Extended

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Invite codes' letters: no 0/O or 1/I, so a code read aloud or copied by hand survives."""
INVITE_LENGTH = 10


class OwnAccount(Conflict):
    code = "own_account"
    message = "An admin cannot change or delete their own account."


class UserDeleted(Conflict):
    code = "user_deleted"
    message = "The member is deleted."


class BannerExists(Conflict):
    code = "banner_exists"
    message = "A banner with this id exists."


class PromoNotFound(NotFound):
    code = "promo_not_found"
    message = "The promo code does not exist."


class InvalidBanner(InvalidInput):
    code = "invalid_banner"
    message = "The banner's window is not valid."


# members


def _status(found: UserStatus | None) -> UserStatus:
    return found or UserStatus.ACTIVE


def _escaped(prefix: str) -> str:
    """`prefix` as a LIKE pattern's literal start (nicknames may hold `_`)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _with_status() -> Select[User, UserStatus]:
    return select(User, MemberStatus.status).outerjoin(
        MemberStatus, MemberStatus.user_id == User.account_id
    )


def _status_is(status: UserStatus) -> ColumnElement[bool]:
    if status is UserStatus.ACTIVE:
        return or_(MemberStatus.status.is_(None), MemberStatus.status == status)
    return MemberStatus.status == status


async def members(
    session: AsyncSession,
    page: PageRequest,
    *,
    nickname: str | None = None,
    rank: Rank | None = None,
    status: UserStatus | None = None,
) -> Page[Extended]:
    """Members, the newest first: whose nickname starts with `nickname` (any case), of a
    rank, of a status."""
    query = _with_status()
    if nickname:
        query = query.where(User.nickname.ilike(f"{_escaped(nickname)}%", escape="\\"))
    if rank is not None:
        query = query.where(User.rank == rank)
    if status is not None:
        query = query.where(_status_is(status))
    return await paginate(
        session,
        query,
        page,
        keys=(User.created_at, User.account_id),
        item=lambda row: Extended(row.User, status=_status(row.status)),
        descending=True,
    )


def _count(
    model: type[Action] | type[Hand] | type[Purchase] | type[Reward], user_id: uuid.UUID
) -> Any:
    return select(func.count()).select_from(model).where(model.user_id == user_id).scalar_subquery()


async def member_detail(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> Extended:
    """Everything about a member (404 `user_not_found`): status, wallet, streak, tier,
    how much they did, their live sessions."""
    from ensemble.apps.casino.rewards import service as rewards  # it builds on casino.service

    user = await casino.member(session, user_id)
    standing = await session.get(MemberStatus, user_id)
    counted = (
        await session.execute(
            select(
                _count(Action, user_id).label("actions"),
                _count(Hand, user_id).label("hands"),
                _count(Purchase, user_id).label("purchases"),
                _count(Reward, user_id).label("rewards"),
            )
        )
    ).one()
    sessions = [
        Extended(each, current=False) for each in await identity.live_sessions(session, user_id)
    ]
    return Extended(
        user,
        status=_status(standing.status if standing else None),
        status_reason=standing.reason if standing else None,
        status_changed_at=standing.changed_at if standing else None,
        **await casino.wallet(session, user_id),
        streak=await rewards.current_streak(session, user_id, now=now),
        counts=counted._asdict(),
        sessions=sessions,
    )


async def _changeable(session: AsyncSession, admin_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """The member, locked (changes to one member queue), unless it is the admin's own
    account (409 `own_account`)."""
    if user_id == admin_id:
        raise OwnAccount()
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise casino.UserNotFound()
    return user


async def _set_status(
    session: AsyncSession,
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    status: UserStatus,
    reason: str | None,
) -> None:
    values = {"status": status, "reason": reason, "changed_by": admin_id, "changed_at": func.now()}
    await session.execute(
        insert(MemberStatus)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[MemberStatus.user_id], set_=values)
    )


async def update_member(
    session: AsyncSession,
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    reason: str | None,
) -> Extended:
    """Give a member a rank and/or a status (409 `own_account`, `user_deleted`). A
    suspension refuses the member's tokens at once (the auth caches are told at commit)."""
    user = await _changeable(session, admin_id, user_id)
    standing = await session.get(MemberStatus, user_id)
    if standing is not None and standing.status is UserStatus.DELETED:
        raise UserDeleted()
    if "rank" in changes:
        user.rank = changes["rank"]
    if "status" in changes:
        await _set_status(session, admin_id, user_id, changes["status"], reason)
    await session.flush()
    details = {name: str(value) for name, value in changes.items()} | {"reason": reason}
    await audit.record(session, admin_id, "user.update", "user", user_id, details)
    await session.refresh(user)
    found = await session.get(MemberStatus, user_id, populate_existing=True)
    return Extended(user, status=_status(found.status if found else None))


async def delete_member(session: AsyncSession, admin_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Soft-delete a member: status `deleted`, final; the member's tokens are refused at
    once and no login or refresh gives new ones. Its rows (and nickname) are kept: the
    nickname stays taken, so nobody can pass for them. Deleting a deleted member changes
    nothing."""
    await _changeable(session, admin_id, user_id)
    standing = await session.get(MemberStatus, user_id)
    if standing is not None and standing.status is UserStatus.DELETED:
        return
    await _set_status(session, admin_id, user_id, UserStatus.DELETED, None)
    await audit.record(session, admin_id, "user.delete", "user", user_id)


# catalogue


async def products(session: AsyncSession, page: PageRequest) -> Page[Product]:
    """Every product, switched off or out of its window too, in the shop's order."""
    return await paginate(
        session,
        select(Product),
        page,
        keys=(Product.sort_order, Product.product_id),
        item=as_fetched,
    )


async def promo_codes(
    session: AsyncSession, page: PageRequest, *, active: bool | None
) -> Page[PromoCode]:
    """Promo codes, the newest first (only the active or inactive ones, if asked)."""
    query = select(PromoCode)
    if active is not None:
        query = query.where(PromoCode.is_active.is_(active))
    return await newest_first(session, query, page, PromoCode.created_at, PromoCode.code)


async def deactivate_promo(session: AsyncSession, admin_id: uuid.UUID, code: str) -> PromoCode:
    """Switch a promo code off for good (404 `promo_not_found`): no purchase takes it from
    now on (a purchase reads `is_active` in the statement that spends a use)."""
    promo = await session.get(PromoCode, code, with_for_update=True)
    if promo is None:
        raise PromoNotFound(details={"code": code})
    promo.is_active = False
    await session.flush()
    await audit.record(session, admin_id, "promo.deactivate", "promo_code", code)
    return promo


async def create_banner(
    session: AsyncSession, admin_id: uuid.UUID, body: BannerCreate, *, now: datetime
) -> Banner:
    """A new banner (409 `banner_exists`), open from `starts_at` (default now) but playable
    only once a published rate table applies."""
    if await session.get(Banner, body.banner_id) is not None:
        raise BannerExists(details={"banner_id": body.banner_id})
    banner = Banner(**body.model_dump(exclude={"starts_at"}), starts_at=body.starts_at or now)
    if banner.ends_at is not None and banner.ends_at <= banner.starts_at:
        raise InvalidBanner(details={"ends_at": "must be after starts_at"})
    session.add(banner)
    await session.flush()
    await audit.record(
        session, admin_id, "banner.create", "banner", banner.banner_id, body.model_dump(mode="json")
    )
    return banner


async def update_banner(
    session: AsyncSession,
    admin_id: uuid.UUID,
    banner_id: str,
    changes: Mapping[str, Any],
    *,
    now: datetime,
) -> Banner:
    """Rename, re-price, or end a banner (`close`: now; 404 `banner_not_found`, 422
    `invalid_banner` for an end before its start). Its rates change only by publishing a
    rate table, which applies after the notice."""
    banner = await gacha.banner(session, banner_id)
    await session.refresh(banner, with_for_update=True)
    for name, value in changes.items():
        if name == "close":
            banner.ends_at = now
        else:
            setattr(banner, name, value)
    if banner.ends_at is not None and banner.ends_at < banner.starts_at:
        raise InvalidBanner(details={"ends_at": "must not be before starts_at"})
    await session.flush()
    details = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in changes.items()
    }
    await audit.record(session, admin_id, "banner.update", "banner", banner_id, details)
    return banner


async def banners(session: AsyncSession, page: PageRequest) -> Page[Banner]:
    """Every banner, open, coming or closed, the newest first."""
    return await paginate(
        session,
        select(Banner),
        page,
        keys=(Banner.created_at, Banner.banner_id),
        item=as_fetched,
        descending=True,
    )


# invites


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


async def invites(
    session: AsyncSession, page: PageRequest, *, active: bool | None
) -> Page[InviteCode]:
    """Stored invite codes (the forever code is a setting, not listed), the newest first."""
    query = select(InviteCode)
    if active is not None:
        query = query.where(InviteCode.is_active.is_(active))
    return await newest_first(session, query, page, InviteCode.created_at, InviteCode.code)


async def create_invites(
    session: AsyncSession,
    admin_id: uuid.UUID,
    *,
    count: int,
    max_uses: int,
    expires_at: datetime | None,
    now: datetime,
) -> tuple[uuid.UUID, list[InviteCode]]:
    """`count` new random codes of `max_uses` sign-ups each, made by `admin_id`, and the
    batch's id (the audit entry's target). A code drawn twice (1 in 32^10) is drawn again."""
    codes: list[str] = []
    while len(codes) < count:
        drawn = {new_invite_code() for _ in range(count - len(codes))}
        rows = [
            {"code": code, "is_active": True, "max_uses": max_uses, "uses": 0,
             "expires_at": expires_at, "created_by": admin_id, "created_at": now}
            for code in drawn
        ]  # fmt: skip
        stored = await session.scalars(
            insert(InviteCode).values(rows).on_conflict_do_nothing().returning(InviteCode.code)
        )
        codes.extend(stored)
    stmt = select(InviteCode).where(InviteCode.code.in_(codes)).order_by(InviteCode.code)
    batch = list((await session.scalars(stmt)).all())
    batch_id = new_id()
    expiry = expires_at.isoformat() if expires_at else None
    details = {"count": count, "max_uses": max_uses, "expires_at": expiry, "codes": sorted(codes)}
    await audit.record(session, admin_id, "invite.create", "invite_batch", batch_id, details)
    return batch_id, batch
