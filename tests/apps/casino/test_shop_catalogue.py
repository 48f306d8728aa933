"""The catalogue as each member pays for it (sale window, VIP discount), the kill switch,
the admin's products and promo codes, receipts, and who may call what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ensemble.apps.casino.domain import COINS, GEMS, Rank
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API
from tests.apps.casino.shopkit import ShopWorld, shop
from tests.apps.casino.test_vip import active_on, days_before, set_tier

__all__ = ["shop"]


async def _listed(shop: ShopWorld, headers: dict[str, str]) -> dict[str, dict[str, object]]:
    answer = await shop.client.get(f"{API}/shop/products", params={"limit": 100}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {each["product_id"]: each for each in answer.json()["items"]}


async def test_the_seeded_catalogue_is_on_sale(shop: ShopWorld) -> None:
    member = await shop.member()
    listed = await _listed(shop, member.headers)
    assert {"gems-100", "coins-1000", "shield-pack", "founders-pack"} <= set(listed)
    gems = listed["gems-100"]
    assert (gems["kind"], gems["price_currency"], gems["price"]) == ("gem_pack", "USD", 99)
    assert listed["founders-pack"]["remaining_limit"] == 1
    assert listed["founders-pack"]["stock_left"] == 1000


async def test_prices_follow_the_sale_window_and_the_vip_tier_discount(shop: ShopWorld) -> None:
    now = utcnow()
    on_sale = await shop.product(
        base_price=1000,
        sale_price=600,
        sale_starts_at=now - timedelta(hours=1),
        sale_ends_at=now + timedelta(hours=1),
        vip_discount_percent=25,
    )
    sale_over = await shop.product(
        base_price=1000,
        sale_price=600,
        sale_starts_at=now - timedelta(hours=2),
        sale_ends_at=now - timedelta(hours=1),
        vip_discount_percent=3,
    )
    # the tier's discount (B3: Silver 5 %, Platinum 10 %), up to the product's ceiling;
    # a rank gives none
    ranked, silver, platinum = (
        await shop.member(Rank.VIP),
        await shop.member(),
        await shop.member(),
    )
    await set_tier(shop.casino, silver, 2)
    await set_tier(shop.casino, platinum, 4)
    for member, price, ended in ((ranked, 600, 1000), (silver, 570, 970), (platinum, 540, 970)):
        listed = await _listed(shop, member.headers)
        assert (listed[on_sale]["price"], listed[on_sale]["on_sale"]) == (price, True)
        assert (listed[sale_over]["price"], listed[sale_over]["on_sale"]) == (ended, False)
    bought = (await shop.buy(platinum, on_sale)).json()
    assert bought["amount"] == 540


async def test_gems_spent_in_the_shop_upgrade_the_vip_tier_at_once(shop: ShopWorld) -> None:
    member = await shop.member(gems=100)
    await active_on(shop.casino, member, *days_before(utcnow(), 10))
    product = await shop.product(price_currency=GEMS, base_price=100, vip_discount_percent=0)
    assert (await shop.buy(member, product)).status_code == 201
    me = await shop.client.get(f"{API}/auth/me", headers=member.headers)
    assert me.json()["vip_tier"] == 2  # Silver: 100 gems and 10 active days


async def test_products_outside_their_window_are_not_on_sale(shop: ShopWorld) -> None:
    later = await shop.product(available_from=utcnow() + timedelta(days=1))
    ended = await shop.product(available_until=utcnow() - timedelta(seconds=1))
    member = await shop.member()
    listed = await _listed(shop, member.headers)
    for product in (later, ended):
        assert product not in listed
        assert_error(await shop.buy(member, product), 404, "product_not_found")


async def test_the_kill_switch_stops_listing_and_sales_at_once(shop: ShopWorld) -> None:
    product = await shop.product(stock_total=5)
    admin, member = await shop.member(Rank.ADMIN), await shop.member()
    switch = f"{API}/admin/shop/products/{product}/enabled"
    off = await shop.client.put(switch, json={"enabled": False}, headers=admin.headers)
    assert off.status_code == 200, off.text
    assert off.json()["is_enabled"] is False
    assert product not in await _listed(shop, member.headers)
    detail = await shop.client.get(f"{API}/shop/products/{product}", headers=member.headers)
    assert_error(detail, 404, "product_not_found")
    before = await shop.written()
    assert_error(await shop.buy(member, product), 404, "product_not_found")
    assert await shop.written() == before
    on = await shop.client.put(switch, json={"enabled": True}, headers=admin.headers)
    assert on.json()["is_enabled"] is True
    assert (await shop.buy(member, product)).status_code == 201


async def test_admins_create_and_update_products(shop: ShopWorld) -> None:
    admin, member = await shop.member(Rank.ADMIN), await shop.member()
    product_id = f"t-{uuid.uuid4().hex[:8]}"
    body = {
        "product_id": product_id,
        "name": "Dragon box",
        "kind": "item_package",
        "price_currency": GEMS,
        "base_price": 30,
        "contents": {"coins": 100, "items": {"golden-dragon": 1}},
        "stock_total": 3,
        "per_member_limit": 1,
    }
    created = await shop.client.post(f"{API}/admin/shop/products", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    again = await shop.client.post(f"{API}/admin/shop/products", json=body, headers=admin.headers)
    assert_error(again, 409, "product_exists")
    changed = await shop.client.patch(
        f"{API}/admin/shop/products/{product_id}",
        json={"base_price": 40, "vip_discount_percent": 10},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    shown = await shop.client.get(f"{API}/shop/products/{product_id}", headers=member.headers)
    assert (shown.json()["price"], shown.json()["remaining_limit"]) == (40, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "gem_pack", "contents": {"gems": 10}},  # gems for coins
        {"contents": {"gems": 10}},  # an item package holding gems
        {"contents": {"items": {"no-such-item": 1}}},
        {"contents": {}},
        {"sale_price": 500},  # not below the base price
        {"kind": "coin_bundle", "price_currency": "USD", "contents": {"coins": 5}},
    ],
)
async def test_products_breaking_the_rules_are_refused(
    shop: ShopWorld, change: dict[str, object]
) -> None:
    admin = await shop.member(Rank.ADMIN)
    body = {
        "product_id": f"t-{uuid.uuid4().hex[:8]}",
        "name": "Bad",
        "kind": "item_package",
        "price_currency": COINS,
        "base_price": 100,
        "contents": {"coins": 1},
        **change,
    }
    before = await shop.written()
    answer = await shop.client.post(f"{API}/admin/shop/products", json=body, headers=admin.headers)
    assert_error(answer, 422, "invalid_product")
    assert await shop.written() == before


async def test_bad_admin_bodies_are_refused(shop: ShopWorld) -> None:
    admin = await shop.member(Rank.ADMIN)
    product = await shop.product()
    for path, body in (
        (f"/admin/shop/products/{product}", {}),
        (f"/admin/shop/products/{product}", {"base_price": None}),
        (f"/admin/shop/products/{product}", {"stock_total": -1}),
        ("/admin/shop/promo-codes", {"code": "X1", "kind": "percent"}),
        ("/admin/shop/promo-codes", {"code": "X1", "kind": "bonus", "percent_off": 5}),
        ("/admin/shop/promo-codes", {"code": "bad code", "kind": "percent", "percent_off": 5}),
    ):
        method = shop.client.patch if path.startswith("/admin/shop/products/") else shop.client.post
        assert_error(await method(f"{API}{path}", json=body, headers=admin.headers), 422)
    missing = await shop.client.patch(
        f"{API}/admin/shop/products/t-missing", json={"name": "x"}, headers=admin.headers
    )
    assert_error(missing, 404, "product_not_found")
    promo = {"code": "DUP1", "kind": "percent", "percent_off": 5}
    assert (
        await shop.client.post(f"{API}/admin/shop/promo-codes", json=promo, headers=admin.headers)
    ).status_code == 201
    dup = await shop.client.post(f"{API}/admin/shop/promo-codes", json=promo, headers=admin.headers)
    assert_error(dup, 409, "promo_exists")


async def test_receipts_are_your_own_newest_first_in_pages(shop: ShopWorld) -> None:
    product = await shop.product(base_price=1)
    member, other = await shop.member(), await shop.member()
    bought = [(await shop.buy(member, product)).json()["purchase_id"] for _ in range(3)]
    theirs = (await shop.buy(other, product)).json()["purchase_id"]
    first = await shop.client.get(
        f"{API}/shop/receipts", params={"limit": 2}, headers=member.headers
    )
    page = first.json()
    assert [each["purchase_id"] for each in page["items"]] == bought[::-1][:2]
    rest = await shop.client.get(
        f"{API}/shop/receipts",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=member.headers,
    )
    assert [each["purchase_id"] for each in rest.json()["items"]] == bought[:1]
    assert rest.json()["next_cursor"] is None
    assert_error(
        await shop.client.get(f"{API}/shop/receipts/{theirs}", headers=member.headers),
        404,
        "purchase_not_found",
    )
    mine = await shop.client.get(f"{API}/shop/receipts/{bought[0]}", headers=member.headers)
    assert mine.json()["status"] == "fulfilled"


ROUTES = [
    ("GET", "/shop/products"),
    ("GET", "/shop/products/gems-100"),
    ("POST", "/shop/buy"),
    ("GET", "/shop/receipts"),
    ("GET", f"/shop/receipts/{uuid.uuid4()}"),
    ("POST", "/admin/shop/products"),
    ("PATCH", "/admin/shop/products/gems-100"),
    ("PUT", "/admin/shop/products/gems-100/enabled"),
    ("POST", "/admin/shop/promo-codes"),
    ("POST", f"/admin/shop/purchases/{uuid.uuid4()}/refund"),
]


async def test_every_route_needs_a_token_and_admin_routes_an_admin(shop: ShopWorld) -> None:
    vip = await shop.member(Rank.VIP)
    for method, path in ROUTES:
        assert_error(await shop.client.request(method, f"{API}{path}", json={}), 401)
        if path.startswith("/admin/"):
            answer = await shop.client.request(method, f"{API}{path}", json={}, headers=vip.headers)
            assert_error(answer, 403, "rank_forbidden")
