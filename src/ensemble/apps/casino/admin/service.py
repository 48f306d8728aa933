"""The admin's use cases: members (search, detail, rank and status, soft delete), the
catalogue's admin lists, banners, invite batches, the shop's products and promo codes, and
refunds of money purchases (what was granted taken back; what was spent becomes a debt).
Every write records itself in the audit log in its transaction. Never commit."""

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
from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import Rank, UserStatus
from ensemble.apps.casino.gacha import service as gacha
from ensemble.apps.casino.gacha.models import Banner
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.models import Hand, InviteCode, Item, User
from ensemble.apps.casino.notifications import messages
from ensemble.apps.casino.rewards.models import Reward
from ensemble.apps.casino.shop import repository as shop_repository
from ensemble.apps.casino.shop import service as shop
from ensemble.apps.casino.shop.domain import (
    PRICE_CURRENCIES,
    Contents,
    PromoKind,
    PurchaseStatus,
    ShopReason,
    contents_problem,
    ledger_key,
    refund_split,
)
from ensemble.apps.casino.shop.models import Debt, Product, PromoCode, Purchase
from ensemble.apps.casino.shop.payments import payment_port
from ensemble.apps.casino.shop.schemas import ProductCreate, PromoCreate
from ensemble.apps.casino.shop.service import (
    InvalidProduct,
    ProductExists,
    ProductNotFound,
    PromoExists,
)
from ensemble.kernel.db import new_id
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.models import Account as LedgerAccount
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


def nickname_starts_with(prefix: str) -> ColumnElement[bool]:
    """Nicknames starting with `prefix` in any case (served by `ix_users_nickname_prefix`)."""
    return func.lower(User.nickname).like(f"{_escaped(prefix.lower())}%", escape="\\")


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
        query = query.where(nickname_starts_with(nickname))
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


# the shop's catalogue (products and promo codes)


async def _check_product(session: AsyncSession, product: Product) -> None:
    """Refuse a product that breaks a shop rule (422 `invalid_product`)."""
    problem = _product_problem(product)
    if problem is None:
        unknown = await _unknown_items(session, product.unit_contents.items)
        problem = f"unknown items: {', '.join(unknown)}" if unknown else None
    if problem is not None:
        raise InvalidProduct(details={"problem": problem})


def _product_problem(product: Product) -> str | None:
    if product.price_currency not in PRICE_CURRENCIES[product.kind]:
        allowed = ", ".join(PRICE_CURRENCIES[product.kind])
        return f"a {product.kind.value} is priced in {allowed}"
    if product.sale_price is not None and product.sale_price >= product.base_price:
        return "a sale price is below the base price"
    windows = (
        (product.sale_starts_at, product.sale_ends_at),
        (product.available_from, product.available_until),
    )
    if any(start and end and start >= end for start, end in windows):
        return "a window ends after it starts"
    if product.stock_total is not None and product.stock_sold > product.stock_total:
        return "the stock is below what is sold"
    return contents_problem(product.kind, product.unit_contents)


async def _unknown_items(session: AsyncSession, items: Mapping[str, int]) -> list[str]:
    if not items:
        return []
    known = set(await session.scalars(select(Item.item_id).where(Item.item_id.in_(items))))
    return sorted(set(items) - known)


async def create_product(session: AsyncSession, body: ProductCreate) -> Product:
    """A new product (409 `product_exists`, 422 `invalid_product`)."""
    fields = body.model_dump(exclude={"contents"})
    contents = Contents(**body.contents.model_dump()).as_json()
    product = Product(**fields, contents=contents, stock_sold=0)
    await _check_product(session, product)
    if await session.get(Product, body.product_id) is not None:
        raise ProductExists(details={"product_id": body.product_id})
    session.add(product)
    await session.flush()
    return product


async def _product(session: AsyncSession, product_id: str) -> Product:
    product = await session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise ProductNotFound(details={"product_id": product_id})
    return product


async def update_product(
    session: AsyncSession, product_id: str, changes: Mapping[str, Any]
) -> Product:
    """Change a product's prices, window, stock or limit (422 `invalid_product`)."""
    product = await _product(session, product_id)
    for name, value in changes.items():
        setattr(product, name, value)
    await _check_product(session, product)
    await session.flush()
    return product


async def switch_product(session: AsyncSession, product_id: str, *, enabled: bool) -> Product:
    """The emergency switch: off, the product is neither listed nor sold (at once: a buy
    takes the stock only while the product is on)."""
    product = await _product(session, product_id)
    product.is_enabled = enabled
    await session.flush()
    return product


async def create_promo(session: AsyncSession, body: PromoCreate) -> PromoCode:
    """A new promo code (409 `promo_exists`; 404 `product_not_found` for its product)."""
    if body.product_id is not None and await session.get(Product, body.product_id) is None:
        raise ProductNotFound(details={"product_id": body.product_id})
    bonus = Contents(**body.bonus.model_dump()) if body.bonus is not None else None
    if bonus is not None:
        if bonus.is_empty:
            raise InvalidProduct("A bonus grants something.", code="invalid_promo")
        if unknown := await _unknown_items(session, bonus.items):
            raise InvalidProduct(
                "The bonus holds unknown items.", code="invalid_promo", details={"items": unknown}
            )
    promo = PromoCode(
        code=body.code,
        kind=body.kind,
        percent_off=body.percent_off if body.kind is PromoKind.PERCENT else None,
        bonus=bonus.as_json() if bonus is not None else None,
        product_id=body.product_id,
        max_uses=body.max_uses,
        expires_at=body.expires_at,
    )
    if await session.get(PromoCode, body.code) is not None:
        raise PromoExists(details={"code": body.code})
    session.add(promo)
    await session.flush()
    return promo


# refunds of the shop's money purchases


async def refund(
    session: AsyncSession, purchase_id: uuid.UUID, reason: str, now: datetime
) -> Purchase:
    """Refund a fulfilled money purchase through its provider and take back what it
    granted; what the member already spent becomes their debt. Once only (409
    `already_refunded`)."""
    purchase = await shop_repository.purchases.get(session, purchase_id, lock=True)
    if purchase is None:
        raise shop.PurchaseNotFound(details={"purchase_id": str(purchase_id)})
    if purchase.status is PurchaseStatus.REFUNDED:
        raise shop.AlreadyRefunded(details={"purchase_id": str(purchase_id)})
    if purchase.status is not PurchaseStatus.FULFILLED or purchase.provider is None:
        raise shop.NotRefundable(details={"status": purchase.status.value})
    shop.move(purchase, PurchaseStatus.REFUNDED, now)
    debt: dict[str, int] = {}
    for currency, amount in purchase.granted.currencies().items():
        owed = await _take_back(session, purchase, currency, amount)
        if owed:
            debt[currency] = owed
            await _add_debt(session, purchase.user_id, currency, owed)
    await _take_back_items(session, purchase.user_id, purchase.granted.items)
    purchase.refund_reason = reason
    purchase.refund_debt = debt
    assert purchase.provider_txn_id is not None
    await payment_port(purchase.provider).refund(
        purchase.provider_txn_id, amount=purchase.amount, reason=reason
    )
    await messages.purchase_refunded(session, purchase)
    return purchase


async def _take_back(session: AsyncSession, purchase: Purchase, currency: str, amount: int) -> int:
    """Take back up to `amount` of a currency (the account row locked, so the balance read
    is the one spent from); what could not be taken."""
    account = (
        await session.execute(
            select(LedgerAccount.id, LedgerAccount.balance)
            .where(
                LedgerAccount.owner_realm == REALM,
                LedgerAccount.owner_id == purchase.user_id,
                LedgerAccount.currency == currency,
            )
            .with_for_update()
        )
    ).first()
    taken, owed = refund_split(amount, account.balance if account is not None else 0)
    if taken:
        assert account is not None
        await ledger.spend(
            session,
            account_id=account.id,
            amount=taken,
            reason=ShopReason.REFUND,
            reference_type=shop.REFERENCE_TYPE,
            reference_id=str(purchase.id),
            idempotency_key=ledger_key(purchase.id, f"refund-{currency}"),
        )
    return owed


async def _add_debt(session: AsyncSession, user_id: uuid.UUID, currency: str, amount: int) -> None:
    statement = insert(Debt).values(user_id=user_id, currency=currency, amount=amount)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Debt.user_id, Debt.currency],
            set_={"amount": Debt.amount + statement.excluded.amount},
        )
    )


async def _take_back_items(
    session: AsyncSession, user_id: uuid.UUID, items: Mapping[str, int]
) -> None:
    """Take back granted items, as many as the member still holds (items make no debt)."""
    for item_id, count in items.items():
        held = min(count, await inventory.quantity(session, user_id, item_id))
        if held:
            await inventory.take(session, user_id, item_id, held)
