"""The shop's test kit: products made for a test (ids `t-…`, removed after it, as the
catalogue is kept between tests), funded members, buys, signed webhooks, ledger sums."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import case, func, select, text

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import COINS, GEMS, Rank
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.apps.casino.shop.models import Product
from ensemble.apps.casino.shop.payments import SIGNATURE_HEADER, signature_header
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.models import Account, Direction, Entry
from tests.apicheck import snapshot
from tests.apps.casino.conftest import API, CasinoWorld, Member

SHOP_TABLES = (
    "casino.purchases",
    "casino.promo_codes",
    "casino.promo_redemptions",
    "casino.member_purchases",
    "casino.debts",
)
WRITTEN = (*SHOP_TABLES, "casino.products", "casino.inventory", "ledger.accounts", "ledger.entries")
"""What a buy may write: equal snapshots mean a refusal wrote nothing."""
SECRET = CasinoSettings().payment_webhook_secret.get_secret_value().encode()


@dataclass
class ShopWorld:
    casino: CasinoWorld

    @property
    def client(self) -> httpx.AsyncClient:
        return self.casino.client

    async def member(self, rank: Rank = Rank.STANDARD, **funds: int) -> Member:
        member = await self.casino.member(rank)
        for currency, amount in funds.items():
            await self.fund(member, currency, amount)
        return member

    async def fund(self, member: Member, currency: str, amount: int) -> None:
        async with self.casino.database.unit_of_work() as session:
            await ledger.post_by_owner(
                session,
                AccountOwner(REALM, member.user_id, currency),
                Direction.EARN,
                {"amount": amount, "reason": "test"},
            )

    async def balance(self, member: Member, currency: str) -> int:
        async with self.casino.database.sessionmaker() as session:
            found = await session.scalar(
                select(Account.balance).where(
                    Account.owner_realm == REALM,
                    Account.owner_id == member.user_id,
                    Account.currency == currency,
                )
            )
            return found or 0

    async def entry_sum(self, member: Member, currency: str, reason: str) -> int:
        """The signed sum of a member's ledger entries of `reason` in `currency`."""
        signed = func.sum(
            case((Entry.direction == Direction.EARN, Entry.amount), else_=-Entry.amount)
        )
        async with self.casino.database.sessionmaker() as session:
            found = await session.scalar(
                select(signed)
                .join(Account, Account.id == Entry.account_id)
                .where(
                    Account.owner_id == member.user_id,
                    Account.currency == currency,
                    Entry.reason == reason,
                )
            )
            return int(found or 0)

    async def product(self, **fields: Any) -> str:
        """A product for this test: an item package of 1 streak shield for 100 coins unless
        `fields` say otherwise."""
        product_id = f"t-{uuid.uuid4().hex[:12]}"
        values: dict[str, Any] = {
            "name": "Test product",
            "kind": "item_package",
            "price_currency": COINS,
            "base_price": 100,
            "contents": {COINS: 0, GEMS: 0, "items": {"streak-shield": 1}},
        }
        values.update(fields)
        async with self.casino.database.unit_of_work() as session:
            session.add(Product(product_id=product_id, **values))
        return product_id

    async def gem_pack(self, gems: int = 100, price: int = 99) -> str:
        contents = {COINS: 0, GEMS: gems, "items": {}}
        return await self.product(
            kind="gem_pack", price_currency="USD", base_price=price, contents=contents
        )

    async def buy(self, member: Member, product_id: str, **fields: Any) -> httpx.Response:
        body = {"product_id": product_id, "idempotency_key": uuid.uuid4().hex, **fields}
        return await self.client.post(f"{API}/shop/buy", json=body, headers=member.headers)

    async def webhook(
        self,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: bytes = SECRET,
        provider: str = "sandbox",
        tamper: bool = False,
    ) -> httpx.Response:
        """A notification signed as the provider signs it (`tamper`: the body changed after
        signing)."""
        body = json.dumps(event).encode()
        header = signature_header(secret, body, timestamp)
        if tamper:
            body = json.dumps({**event, "amount": event["amount"] + 1}).encode()
        return await self.client.post(
            f"{API}/shop/webhooks/{provider}",
            content=body,
            headers={SIGNATURE_HEADER: header, "content-type": "application/json"},
        )

    async def written(self) -> dict[str, list[str]]:
        return await snapshot(self.casino.database, WRITTEN)


def paid(purchase: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The provider's `paid` notification of a pending purchase (with `changes`)."""
    return {
        "transaction_id": purchase["provider_txn_id"],
        "status": "paid",
        "amount": purchase["amount"],
        "currency": purchase["price_currency"],
        "product_id": purchase["product_id"],
        **changes,
    }


@pytest.fixture
async def shop(casino: CasinoWorld) -> AsyncIterator[ShopWorld]:
    yield ShopWorld(casino)
    async with casino.database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(SHOP_TABLES)} CASCADE"))
        await conn.execute(text("DELETE FROM casino.products WHERE product_id LIKE 't-%'"))
