"""Buying with coins and gems: paid and granted in one transaction, idempotent, the stock,
the per-member limit and promo codes exact under concurrency, every refusal writing
nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from ensemble.apps.casino.domain import COINS, GEMS, STREAK_SHIELD, Rank
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.shop.domain import ShopReason
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API
from tests.apps.casino.shopkit import ShopWorld, shop

__all__ = ["shop"]


async def test_a_coin_priced_package_is_paid_and_granted_at_once(shop: ShopWorld) -> None:
    product = await shop.product(
        base_price=300, contents={"coins": 0, "gems": 0, "items": {STREAK_SHIELD: 2}}
    )
    member = await shop.member()
    coins = await shop.balance(member, COINS)
    answer = await shop.buy(member, product, quantity=2)
    assert answer.status_code == 201, answer.text
    purchase = answer.json()
    assert purchase["status"] == "fulfilled"
    assert (purchase["amount"], purchase["unit_price"]) == (600, 300)
    assert purchase["contents"]["items"] == {STREAK_SHIELD: 4}
    assert await shop.balance(member, COINS) == coins - 600
    async with shop.casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, STREAK_SHIELD) == 4


async def test_a_coin_bundle_spends_gems_for_coins(shop: ShopWorld) -> None:
    member = await shop.member(gems=25)
    coins = await shop.balance(member, COINS)
    answer = await shop.buy(member, "coins-1000", quantity=2)
    assert answer.status_code == 201, answer.text
    assert await shop.balance(member, GEMS) == 5
    assert await shop.balance(member, COINS) == coins + 2000
    assert await shop.entry_sum(member, GEMS, ShopReason.PURCHASE) == -20


async def test_the_same_key_is_the_same_purchase(shop: ShopWorld) -> None:
    product = await shop.product()
    member = await shop.member()
    coins = await shop.balance(member, COINS)
    body = {"product_id": product, "idempotency_key": "once"}

    async def send() -> tuple[int, str]:
        answer = await shop.client.post(f"{API}/shop/buy", json=body, headers=member.headers)
        return answer.status_code, answer.json()["purchase_id"]

    outcomes = await asyncio.gather(*(send() for _ in range(5)))
    assert sorted(status for status, _ in outcomes) == [200, 200, 200, 200, 201]
    assert len({purchase for _, purchase in outcomes}) == 1
    assert await shop.balance(member, COINS) == coins - 100
    other = await shop.buy(member, product, idempotency_key="once", quantity=2)
    assert_error(other, 409, "idempotency_key_reused")


async def test_too_little_money_is_refused_and_nothing_written(shop: ShopWorld) -> None:
    product = await shop.product(base_price=5000)
    member = await shop.member()
    before = await shop.written()
    error = assert_error(await shop.buy(member, product), 409, "insufficient_funds")
    assert error["details"]["currency"] == COINS
    assert await shop.written() == before


async def test_stock_of_ten_sells_ten_to_a_hundred_buyers(shop: ShopWorld) -> None:
    product = await shop.product(base_price=10, stock_total=10)
    buyers = await asyncio.gather(*(shop.member() for _ in range(100)))
    answers = await asyncio.gather(*(shop.buy(member, product) for member in buyers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [409] * 90
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"sold_out"}
    listed = await shop.client.get(f"{API}/shop/products/{product}", headers=buyers[0].headers)
    assert listed.json()["stock_left"] == 0
    paid = [await shop.entry_sum(member, COINS, ShopReason.PURCHASE) for member in buyers]
    assert sorted(paid) == [-10] * 10 + [0] * 90


async def test_the_per_member_limit_holds_under_concurrency(shop: ShopWorld) -> None:
    product = await shop.product(per_member_limit=2)
    member = await shop.member()
    answers = await asyncio.gather(*(shop.buy(member, product) for _ in range(10)))
    assert sorted(answer.status_code for answer in answers) == [201, 201] + [409] * 8
    assert_error(await shop.buy(member, product), 409, "purchase_limit_reached")
    shown = await shop.client.get(f"{API}/shop/products/{product}", headers=member.headers)
    assert shown.json()["remaining_limit"] == 0
    other = await shop.member()
    assert (await shop.buy(other, product, quantity=2)).status_code == 201
    assert_error(await shop.buy(other, product, quantity=3), 409, "purchase_limit_reached")


async def _promo(shop: ShopWorld, **fields: object) -> str:
    admin = await shop.member(Rank.ADMIN)
    code = uuid.uuid4().hex[:10].upper()
    answer = await shop.client.post(
        f"{API}/admin/shop/promo-codes", json={"code": code, **fields}, headers=admin.headers
    )
    assert answer.status_code == 201, answer.text
    return code


async def test_a_promo_code_of_one_use_serves_one_of_twenty(shop: ShopWorld) -> None:
    product = await shop.product(base_price=100)
    code = await _promo(shop, kind="percent", percent_off=50, max_uses=1)
    buyers = await asyncio.gather(*(shop.member() for _ in range(20)))
    answers = await asyncio.gather(*(shop.buy(m, product, promo_code=code) for m in buyers))
    won = [answer.json() for answer in answers if answer.status_code == 201]
    assert len(won) == 1
    assert won[0]["amount"] == 50
    refused = {answer.json()["error"]["code"] for answer in answers if answer.status_code != 201}
    assert refused == {"promo_used_up"}


async def test_a_promo_code_serves_each_member_once(shop: ShopWorld) -> None:
    product = await shop.product()
    code = await _promo(shop, kind="bonus", bonus={"coins": 50})
    member = await shop.member()
    coins = await shop.balance(member, COINS)
    first = await shop.buy(member, product, promo_code=code)
    assert first.status_code == 201, first.text
    assert await shop.balance(member, COINS) == coins - 100 + 50
    before = await shop.written()
    assert_error(await shop.buy(member, product, promo_code=code), 409, "promo_already_redeemed")
    assert await shop.written() == before


async def test_refused_promo_codes_write_nothing(shop: ShopWorld) -> None:
    product, elsewhere = await shop.product(), await shop.product()
    expired = await _promo(
        shop, kind="percent", percent_off=10, expires_at=(utcnow() - timedelta(days=1)).isoformat()
    )
    for_other = await _promo(shop, kind="percent", percent_off=10, product_id=elsewhere)
    gems_bonus = await _promo(shop, kind="bonus", bonus={"gems": 5})
    member = await shop.member()
    before = await shop.written()
    for code, refusal in (
        ("NOPE", "promo_unknown"),
        (expired, "promo_expired"),
        (for_other, "promo_not_applicable"),
        (gems_bonus, "promo_not_applicable"),
    ):
        assert_error(await shop.buy(member, product, promo_code=code), 409, refusal)
    assert await shop.written() == before


async def test_unknown_products_and_bad_bodies_are_refused(shop: ShopWorld) -> None:
    member = await shop.member()
    before = await shop.written()
    assert_error(await shop.buy(member, "no-such-product"), 404, "product_not_found")
    for bad in ({"quantity": 0}, {"quantity": 11}, {"quantity": "2"}, {"extra": 1}):
        assert_error(await shop.buy(member, "coins-1000", **bad), 422)
    answer = await shop.client.post(
        f"{API}/shop/buy", json={"product_id": "coins-1000"}, headers=member.headers
    )
    assert_error(answer, 422)
    assert await shop.written() == before
