"""The shop's pure rules: product kinds and their prices, what a purchase grants, the
purchase state machine, promo codes. No session, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ensemble.apps.casino.domain import COINS, CURRENCIES, GEMS

MONEY = "USD"
"""The currency of money prices, in minor units (cents). Money buys gems, nothing else."""
MAX_QUANTITY = 10
MAX_DISCOUNT_PERCENT = 90
"""No discount gives a product away: a price stays at least 1."""


class ProductKind(enum.StrEnum):
    GEM_PACK = "gem_pack"
    COIN_BUNDLE = "coin_bundle"
    ITEM_PACKAGE = "item_package"


PRICE_CURRENCIES: Mapping[ProductKind, tuple[str, ...]] = {
    ProductKind.GEM_PACK: (MONEY,),
    ProductKind.COIN_BUNDLE: (GEMS,),
    ProductKind.ITEM_PACKAGE: (COINS, GEMS),
}
"""What each kind is priced in: the money rule's whole shape (money buys gems only, nothing
buys money)."""


def is_money(currency: str) -> bool:
    return currency not in CURRENCIES


class ShopReason(enum.StrEnum):
    """Why the shop moved coins or gems (ledger entries' `reason`)."""

    PURCHASE = "shop_purchase"
    GRANT = "shop_grant"
    REFUND = "shop_refund"
    DEBT_REPAYMENT = "shop_debt_repayment"


def ledger_key(purchase_id: object, step: str) -> str:
    """The idempotency key of one ledger posting of a purchase (`pay`, `grant`, `refund`):
    whatever runs twice, each posting is recorded once."""
    return f"shop:{purchase_id}:{step}"


# contents


@dataclass(frozen=True)
class Contents:
    """What a product (times a quantity) or a bonus grants: coins, gems, items by id."""

    coins: int = 0
    gems: int = 0
    items: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Contents:
        data = data or {}
        return cls(data.get(COINS, 0), data.get(GEMS, 0), dict(data.get("items", {})))

    def as_json(self) -> dict[str, Any]:
        return {COINS: self.coins, GEMS: self.gems, "items": dict(sorted(self.items.items()))}

    def times(self, quantity: int) -> Contents:
        return Contents(
            self.coins * quantity,
            self.gems * quantity,
            {item: count * quantity for item, count in self.items.items()},
        )

    def plus(self, other: Contents) -> Contents:
        items = dict(self.items)
        for item, count in other.items.items():
            items[item] = items.get(item, 0) + count
        return Contents(self.coins + other.coins, self.gems + other.gems, items)

    def currencies(self) -> dict[str, int]:
        """The coins and gems it grants (those above 0)."""
        return {name: amount for name, amount in ((COINS, self.coins), (GEMS, self.gems)) if amount}

    @property
    def is_empty(self) -> bool:
        return not (self.coins or self.gems or any(self.items.values()))


def contents_problem(kind: ProductKind, contents: Contents) -> str | None:
    """Why a product of `kind` may not hold `contents` (None when it may): a gem pack holds
    gems alone, a coin bundle coins alone, and only money buys gems."""
    if contents.is_empty:
        return "a product grants something"
    if kind is ProductKind.GEM_PACK and (contents.coins or contents.items or not contents.gems):
        return "a gem pack holds gems alone"
    if kind is ProductKind.COIN_BUNDLE and (contents.gems or contents.items or not contents.coins):
        return "a coin bundle holds coins alone"
    if kind is ProductKind.ITEM_PACKAGE and contents.gems:
        return "only money buys gems: an item package holds coins and items"
    return None


def bonus_problem(bonus: Contents, price_currency: str) -> str | None:
    """Why a promo bonus cannot apply to a purchase priced in `price_currency`: bonus gems
    come only with a money purchase (coins and gems never buy gems)."""
    if bonus.gems and not is_money(price_currency):
        return "bonus gems come only with a gem pack"
    return None


# prices


def discounted(price: int, percent: int) -> int:
    """`price` less `percent`, rounded up (a discount never makes anything free)."""
    return -(-price * (100 - percent) // 100)


def in_window(now: datetime, starts: datetime | None, ends: datetime | None) -> bool:
    return (starts is None or starts <= now) and (ends is None or now < ends)


@dataclass(frozen=True)
class PriceRule:
    """A product's price rules: base, a sale within a window, a VIP discount ceiling."""

    base: int
    sale: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    vip_discount_percent: int = 0

    def unit_price(self, now: datetime, *, vip_percent: int) -> int:
        """One unit's price as a member pays it at `now`: the sale price in its window, then
        the member's VIP tier discount `vip_percent`, up to the product's own VIP discount
        (its ceiling: 0 takes no VIP discount)."""
        on_sale = self.sale is not None and in_window(now, self.sale_starts_at, self.sale_ends_at)
        price = self.sale if on_sale and self.sale is not None else self.base
        return discounted(price, min(vip_percent, self.vip_discount_percent))


def total_price(unit_price: int, quantity: int, promo_percent: int = 0) -> int:
    """What a purchase of `quantity` units costs, with a promo code's percentage off."""
    return discounted(unit_price * quantity, promo_percent)


# purchases


class PurchaseStatus(enum.StrEnum):
    """`pending → paid → fulfilled`; or `failed` / `cancelled` (from pending); `refunded`
    (from fulfilled). Coin- and gem-priced purchases are `fulfilled` at once."""

    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


TRANSITIONS: Mapping[PurchaseStatus, frozenset[PurchaseStatus]] = {
    PurchaseStatus.PENDING: frozenset(
        {PurchaseStatus.PAID, PurchaseStatus.FAILED, PurchaseStatus.CANCELLED}
    ),
    PurchaseStatus.PAID: frozenset({PurchaseStatus.FULFILLED}),
    PurchaseStatus.FULFILLED: frozenset({PurchaseStatus.REFUNDED}),
    PurchaseStatus.FAILED: frozenset(),
    PurchaseStatus.CANCELLED: frozenset(),
    PurchaseStatus.REFUNDED: frozenset(),
}
"""Every legal move of a purchase; anything else is refused."""


def can_move(current: PurchaseStatus, target: PurchaseStatus) -> bool:
    return target in TRANSITIONS[current]


# promo codes


class PromoKind(enum.StrEnum):
    PERCENT = "percent"
    BONUS = "bonus"


class PromoRefusal(enum.StrEnum):
    """Why a promo code cannot be used (`promo_<reason>`)."""

    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_REDEEMED = "already_redeemed"
    NOT_APPLICABLE = "not_applicable"


def promo_refusal(
    *, is_active: bool, uses: int, max_uses: int | None, expires_at: datetime | None, now: datetime
) -> PromoRefusal | None:
    """Why a stored code is refused at `now` (an admin's switch, then expiry, then spent)."""
    if not is_active:
        return PromoRefusal.INACTIVE
    if expires_at is not None and expires_at <= now:
        return PromoRefusal.EXPIRED
    if max_uses is not None and uses >= max_uses:
        return PromoRefusal.USED_UP
    return None


def refund_split(granted: int, balance: int) -> tuple[int, int]:
    """A refund of `granted` from `balance`: what is taken back now, and what is left as
    the member's debt (what they already spent)."""
    taken = min(granted, balance)
    return taken, granted - taken
