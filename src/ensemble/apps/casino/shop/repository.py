"""The shop's queries: the catalogue as a member sees it, a member's purchases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.models import TZ
from ensemble.apps.casino.shop.domain import PurchaseStatus
from ensemble.apps.casino.shop.models import Product, Purchase
from ensemble.kernel.db.raw import read_all, transaction_connection
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest


def on_sale(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Products a member may see and buy at `now`: switched on and within their window."""
    return and_(
        Product.is_enabled.is_(True),
        or_(Product.available_from.is_(None), Product.available_from <= now),
        or_(Product.available_until.is_(None), Product.available_until > now),
    )


_ON_SALE_ONE = select(Product).where(
    Product.product_id == bindparam("product_id"), on_sale(bindparam("now", type_=TZ))
)
"""Built once: a purchase reads its product with no statement to build."""


class Products(Repository[Product]):
    async def on_sale_page(
        self, session: AsyncSession, now: datetime, request: PageRequest
    ) -> Page[Product]:
        return await self.page(
            session, on_sale(now), request, (Product.sort_order, Product.product_id)
        )

    async def on_sale_one(
        self, session: AsyncSession, product_id: str, now: datetime
    ) -> Product | None:
        found: Product | None = await session.scalar(
            _ON_SALE_ONE, {"product_id": product_id, "now": now}
        )
        return found

    async def bought_by(
        self, session: AsyncSession, user_id: uuid.UUID, product_ids: Sequence[str]
    ) -> dict[str, int]:
        """How many units of each product the member holds (purchases and reservations)."""
        rows = await read_all(
            session,
            "SELECT product_id, bought FROM casino.member_purchases"
            " WHERE user_id = $1 AND product_id = ANY($2::varchar[])",
            user_id,
            list(product_ids),
        )
        return {row["product_id"]: row["bought"] for row in rows}


class Purchases(Repository[Purchase]):
    async def by_key(
        self, session: AsyncSession, user_id: uuid.UUID, idempotency_key: str
    ) -> Purchase | None:
        """The purchase made under the member's key, if any (an indexed read first, since
        most keys are new)."""
        found = await (await transaction_connection(session)).fetchval(
            "SELECT id FROM casino.purchases WHERE user_id = $1 AND idempotency_key = $2",
            user_id,
            idempotency_key,
        )
        return None if found is None else await session.get(Purchase, found)

    async def by_transaction(
        self, session: AsyncSession, provider: str, transaction_id: str
    ) -> Purchase | None:
        """The purchase of a provider's transaction, locked for its settlement."""
        found: Purchase | None = await session.scalar(
            self.select()
            .where(Purchase.provider == provider, Purchase.provider_txn_id == transaction_id)
            .with_for_update()
        )
        return found

    async def stuck(
        self, session: AsyncSession, created_before: datetime, limit: int
    ) -> Sequence[Purchase]:
        """Pending purchases older than `created_before`, oldest first, locked (those another
        sweep or a webhook holds are skipped)."""
        return await self.list(
            session,
            self.select()
            .where(Purchase.status == PurchaseStatus.PENDING, Purchase.created_at < created_before)
            .order_by(Purchase.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True),
        )

    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, request: PageRequest
    ) -> Page[Purchase]:
        """A member's purchases, the newest first (ids are time-ordered)."""
        return await self.page(
            session, Purchase.user_id == user_id, request, (Purchase.id,), descending=True
        )


products = Products(Product)
purchases = Purchases(Purchase)
