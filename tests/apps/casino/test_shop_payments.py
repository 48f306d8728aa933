"""Gem packs through the payment port: a pending purchase, the signed webhook (replay,
tampering and mismatches refused, repeats harmless), the sweep of stuck payments, refunds
(exact, with a debt when the gems were spent, once) and the state machine."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.domain import COINS, GEMS, Rank
from ensemble.apps.casino.shop import service
from ensemble.apps.casino.shop.domain import TRANSITIONS, PurchaseStatus, ShopReason, can_move
from ensemble.apps.casino.shop.models import Purchase
from ensemble.apps.casino.tasks import shop_sweep
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, Member
from tests.apps.casino.shopkit import ShopWorld, paid, shop
from tests.outboxes import Outboxes

__all__ = ["shop"]


async def _pending(shop: ShopWorld, member: Member, gems: int = 100) -> dict[str, object]:
    product = await shop.gem_pack(gems=gems, price=199)
    answer = await shop.buy(member, product)
    assert answer.status_code == 201, answer.text
    purchase: dict[str, object] = answer.json()
    return purchase


async def _receipt(
    shop: ShopWorld, member: Member, purchase: dict[str, object]
) -> dict[str, object]:
    answer = await shop.client.get(
        f"{API}/shop/receipts/{purchase['purchase_id']}", headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


async def test_a_gem_pack_waits_for_the_payment_then_grants_once(shop: ShopWorld) -> None:
    member = await shop.member()
    purchase = await _pending(shop, member)
    assert purchase["status"] == "pending"
    assert purchase["provider"] == "sandbox"
    assert str(purchase["checkout_url"]).endswith(str(purchase["provider_txn_id"]))
    assert await shop.balance(member, GEMS) == 0
    answers = await asyncio.gather(*(shop.webhook(paid(purchase)) for _ in range(5)))
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.json()["status"] for answer in answers} == {"fulfilled"}
    again = await shop.webhook(paid(purchase))
    assert again.status_code == 200
    assert await shop.balance(member, GEMS) == 100
    assert await shop.entry_sum(member, GEMS, ShopReason.GRANT) == 100
    receipt = await _receipt(shop, member, purchase)
    assert receipt["status"] == "fulfilled"
    assert receipt["paid_at"] is not None


async def test_a_failed_payment_gives_the_stock_back(shop: ShopWorld) -> None:
    member = await shop.member()
    product = await shop.product(
        kind="gem_pack",
        price_currency="USD",
        base_price=99,
        contents={"coins": 0, "gems": 10, "items": {}},
        stock_total=1,
    )
    first = (await shop.buy(member, product)).json()
    assert_error(await shop.buy(member, product), 409, "sold_out")
    answer = await shop.webhook(paid(first, status="failed"))
    assert answer.json()["status"] == "failed"
    assert (await shop.buy(member, product)).status_code == 201


@pytest.mark.parametrize(
    ("change", "tamper"),
    [
        ({}, True),
        ({"amount": 1}, False),
        ({"currency": "EUR"}, False),
        ({"product_id": "gems-100"}, False),
    ],
)
async def test_a_payment_unlike_the_purchase_fails_it(
    shop: ShopWorld, change: dict[str, object], tamper: bool
) -> None:
    member = await shop.member()
    purchase = await _pending(shop, member)
    answer = await shop.webhook(paid(purchase, **change), tamper=tamper)
    if tamper:
        assert_error(answer, 401, "invalid_signature")
        assert (await _receipt(shop, member, purchase))["status"] == "pending"
    else:
        assert_error(answer, 409, "payment_mismatch")
        assert (await _receipt(shop, member, purchase))["status"] == "failed"
        late = await shop.webhook(paid(purchase))
        assert late.json()["status"] == "failed"
    assert await shop.balance(member, GEMS) == 0


async def test_unsigned_forged_and_old_webhooks_are_refused(shop: ShopWorld) -> None:
    member = await shop.member()
    purchase = await _pending(shop, member)
    event = paid(purchase)
    before = await shop.written()
    assert_error(await shop.webhook(event, secret=b"not the secret"), 401, "invalid_signature")
    old = int(time.time()) - 3600
    assert_error(await shop.webhook(event, timestamp=old), 400, "webhook_expired")
    unsigned = await shop.client.post(f"{API}/shop/webhooks/sandbox", json=event)
    assert_error(unsigned, 401, "invalid_signature")
    assert_error(await shop.webhook(event, provider="acme"), 404, "provider_not_found")
    unknown = paid(purchase, transaction_id="sbx_unknown")
    assert_error(await shop.webhook(unknown), 404, "purchase_not_found")
    assert_error(await shop.webhook({**event, "status": "paid-ish"}), 422)
    assert await shop.written() == before
    assert (await shop.webhook(event)).status_code == 200


async def test_the_sweep_fails_payments_stuck_past_the_timeout(
    shop: ShopWorld, redis: Redis
) -> None:
    member = await shop.member()
    stuck, fresh = await _pending(shop, member), await _pending(shop, member)
    async with shop.casino.database.unit_of_work() as session:
        await session.execute(
            update(Purchase)
            .where(Purchase.id == uuid.UUID(str(stuck["purchase_id"])))
            .values(created_at=utcnow() - timedelta(hours=2))
        )
    work = Outboxes(shop.casino.settings, shop.casino.database, redis, [casino_app])
    await work.run(shop_sweep)
    assert (await _receipt(shop, member, stuck))["status"] == "failed"
    assert (await _receipt(shop, member, fresh))["status"] == "pending"
    assert (await shop.webhook(paid(stuck))).json()["status"] == "failed"
    assert await shop.balance(member, GEMS) == 0


async def _fulfilled(shop: ShopWorld, member: Member, gems: int) -> dict[str, object]:
    purchase = await _pending(shop, member, gems)
    assert (await shop.webhook(paid(purchase))).json()["status"] == "fulfilled"
    return purchase


async def _refund(shop: ShopWorld, admin: Member, purchase: dict[str, object]) -> httpx.Response:
    return await shop.client.post(
        f"{API}/admin/shop/purchases/{purchase['purchase_id']}/refund",
        json={"reason": "chargeback"},
        headers=admin.headers,
    )


async def test_a_refund_takes_the_gems_back_exactly_once(shop: ShopWorld) -> None:
    admin, member = await shop.member(Rank.ADMIN), await shop.member(gems=7)
    purchase = await _fulfilled(shop, member, 100)
    assert await shop.balance(member, GEMS) == 107
    answer = await _refund(shop, admin, purchase)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["refund_debt"]) == ("refunded", {})
    assert await shop.balance(member, GEMS) == 7
    assert await shop.entry_sum(member, GEMS, ShopReason.GRANT) == 100
    assert await shop.entry_sum(member, GEMS, ShopReason.REFUND) == -100
    before = await shop.written()
    assert_error(await _refund(shop, admin, purchase), 409, "already_refunded")
    assert await shop.written() == before


async def test_a_refund_of_spent_gems_records_a_debt_the_next_gems_repay(shop: ShopWorld) -> None:
    admin, member = await shop.member(Rank.ADMIN), await shop.member()
    purchase = await _fulfilled(shop, member, 100)
    assert (await shop.buy(member, "coins-5500")).status_code == 201  # 50 gems spent
    body = (await _refund(shop, admin, purchase)).json()
    assert body["refund_debt"] == {GEMS: 50}
    assert await shop.balance(member, GEMS) == 0
    assert await shop.entry_sum(member, GEMS, ShopReason.REFUND) == -50
    async with shop.casino.database.sessionmaker() as session:
        assert await service.debts(session, member.user_id) == {GEMS: 50}
    await _fulfilled(shop, member, 80)  # the next gems pay the debt back first
    assert await shop.balance(member, GEMS) == 30
    assert await shop.entry_sum(member, GEMS, ShopReason.DEBT_REPAYMENT) == -50
    async with shop.casino.database.sessionmaker() as session:
        assert await service.debts(session, member.user_id) == {}


async def test_only_fulfilled_money_purchases_are_refunded(shop: ShopWorld) -> None:
    admin, member = await shop.member(Rank.ADMIN), await shop.member()
    coins_bought = (await shop.buy(member, await shop.product())).json()
    pending = await _pending(shop, member)
    for purchase in (coins_bought, pending):
        assert_error(await _refund(shop, admin, purchase), 409, "purchase_not_refundable")
    assert_error(
        await _refund(shop, admin, {"purchase_id": str(uuid.uuid4())}), 404, "purchase_not_found"
    )
    assert await shop.balance(member, COINS) > 0
    assert_error(await _refund(shop, member, coins_bought), 403, "rank_forbidden")


def test_every_illegal_transition_is_refused() -> None:
    legal = {
        (PurchaseStatus.PENDING, PurchaseStatus.PAID),
        (PurchaseStatus.PENDING, PurchaseStatus.FAILED),
        (PurchaseStatus.PENDING, PurchaseStatus.CANCELLED),
        (PurchaseStatus.PAID, PurchaseStatus.FULFILLED),
        (PurchaseStatus.FULFILLED, PurchaseStatus.REFUNDED),
    }
    assert set(TRANSITIONS) == set(PurchaseStatus)
    for current in PurchaseStatus:
        for target in PurchaseStatus:
            assert can_move(current, target) == ((current, target) in legal), (current, target)
