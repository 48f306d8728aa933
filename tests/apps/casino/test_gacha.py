"""The gacha over HTTP: banners and disclosed rates, pulls (cost, items, shards, pity and
hand in one transaction), hard pity through the service's counter rows, rate tables that
apply only from their published `effective_from`, idempotency, refusals writing nothing,
history, tokens and the admin rank; every pull recomputed from revealed data only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from ensemble.apps.casino.domain import GEMS, SHARDS, Rank
from ensemble.apps.casino.gacha import service as gacha
from ensemble.apps.casino.gacha.models import Banner, Pity, PullRecord, RateTableVersion
from ensemble.apps.casino.inventory import service as inventory
from ensemble.kernel.db import Database, utcnow
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, CasinoWorld
from tests.apps.casino.plays import PLAY_TABLES, committed, give, pull, pull_of, rotate
from tests.authcache import live_auth_cache
from tests.polling import eventually

ONE_EACH = {"SSR": ["golden-dragon"], "SR": ["silver-fox"], "R": ["red-seven"], "N": ["plain-chip"]}
NO_LUCK = {"SSR": 1, "SR": 0, "R": 0, "N": 2**20}
"""An SSR comes (almost) only from the hard pity."""


@pytest.fixture
async def banners(casino: CasinoWorld) -> AsyncIterator[Database]:
    """Banners and rate tables a test adds (reference tables, kept between tests) are
    removed after it."""
    yield casino.database
    async with casino.database.unit_of_work() as session:
        await session.execute(delete(Banner).where(Banner.banner_id != "standard"))
        await session.execute(
            delete(RateTableVersion).where(
                RateTableVersion.banner_id == "standard", RateTableVersion.version > 1
            )
        )


async def add_banner(
    database: Database,
    *,
    weights: dict[str, int],
    pools: dict[str, list[str]] = ONE_EACH,
    hard_pity: int = 90,
    currency: str = "coins",
) -> str:
    banner_id = f"test-{uuid.uuid4().hex[:8]}"
    past = utcnow() - timedelta(days=1)
    async with database.unit_of_work() as session:
        session.add(
            Banner(
                banner_id=banner_id, name="Test", currency=currency, cost_single=1,
                cost_ten=10, hard_pity=hard_pity, starts_at=past,
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            RateTableVersion(
                banner_id=banner_id, version=1, effective_from=past, published_at=past,
                weights=weights, pools=pools,
            )
        )  # fmt: skip
    return banner_id


async def rates(casino: CasinoWorld, headers: dict[str, str], banner_id: str) -> dict[str, Any]:
    answer = await casino.client.get(f"{API}/gacha/banners/{banner_id}/rates", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_the_standard_banner_and_its_disclosed_rates(casino: CasinoWorld) -> None:
    member = await casino.member()
    listed = (await casino.client.get(f"{API}/gacha/banners", headers=member.headers)).json()
    assert [b["banner_id"] for b in listed] == ["standard"]
    body = await rates(casino, member.headers, "standard")
    assert body["banner"]["hard_pity"] == 90
    assert "90" in body["pity_rule"]
    table = body["in_force"]
    assert table["version"] == 1
    assert table["base"]["SSR"] == {"fraction": "3/500", "percent": 0.6}
    assert 1.43 < table["consolidated"]["SSR"]["percent"] < 1.44
    assert len(table["pools"]["SSR"]) == 3
    assert body["upcoming"] == []


async def test_pulls_are_paid_granted_and_recomputable_from_revealed_data(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    await give(casino.database, member.user_id, "coins", 2000)
    single = await pull(casino, member, "standard", 1)
    ten = await pull(casino, member, "standard", 10)
    assert single.status_code == ten.status_code == 200, ten.text
    assert (single.json()["cost"], ten.json()["cost"]) == (100, 900)
    assert ten.json()["balance"] == 3000 - 100 - 900
    assert len(ten.json()["pulls"]) == 10
    assert ten.json()["nonce"] == 2
    revealed = (await rotate(casino, member))["revealed"]
    assert committed(revealed)
    disclosed = (await rates(casino, member.headers, "standard"))["in_force"]
    for play in (single.json(), ten.json()):
        assert play["server_seed_hash"] == revealed["server_seed_hash"]
        for each in play["pulls"]:
            expected = pull_of(
                revealed, disclosed, 90, play["nonce"], each["position"], each["pity_before"]
            )
            assert expected == (each["tier"], each["item_id"])
    history = await casino.client.get(f"{API}/gacha/history", headers=member.headers)
    assert len(history.json()["items"]) == 11
    async with casino.database.sessionmaker() as session:
        held = await inventory.owned(
            session, member.user_id, [p["item_id"] for p in ten.json()["pulls"]]
        )
    assert held == {p["item_id"] for p in ten.json()["pulls"]}


async def test_duplicates_give_shards(casino: CasinoWorld, banners: Database) -> None:
    banner_id = await add_banner(banners, weights={"SSR": 1, "SR": 1, "R": 1, "N": 1})
    member = await casino.member()
    body = (await pull(casino, member, banner_id, 10)).json()
    seen: set[str] = set()
    shards = {"SSR": 40, "SR": 10, "R": 2, "N": 1}
    for each in body["pulls"]:
        assert each["shards"] == (shards[each["tier"]] if each["item_id"] in seen else 0)
        seen.add(each["item_id"])
    assert body["shards"] == sum(p["shards"] for p in body["pulls"]) > 0
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, SHARDS) == body["shards"]
        for item in seen:
            assert await inventory.quantity(session, member.user_id, item) == 1


async def test_the_hard_pity_is_never_exceeded(casino: CasinoWorld, banners: Database) -> None:
    banner_id = await add_banner(banners, weights=NO_LUCK, hard_pity=7)
    member = await casino.member()
    for _ in range(5):
        assert (await pull(casino, member, banner_id, 10)).status_code == 200
    async with casino.database.sessionmaker() as session:
        rows = (await session.scalars(select(PullRecord).order_by(PullRecord.id))).all()
        counter = await session.scalar(select(Pity.counter).where(Pity.user_id == member.user_id))
    assert len(rows) == 50
    assert max(r.pity_before for r in rows) == 6
    assert all(r.tier == "SSR" for r in rows if r.pity_before == 6)
    ssr_at = [i for i, r in enumerate(rows) if r.tier == "SSR"]
    assert ssr_at == list(range(6, 50, 7))
    assert counter == 50 % 7


async def test_a_counter_at_the_edge_gives_the_ssr(casino: CasinoWorld, banners: Database) -> None:
    banner_id = await add_banner(banners, weights=NO_LUCK, hard_pity=90)
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        session.add(Pity(user_id=member.user_id, banner_id=banner_id, counter=89))
    body = (await pull(casino, member, banner_id, 1)).json()
    assert (body["pulls"][0]["tier"], body["pulls"][0]["pity_before"], body["pity"]) == (
        "SSR",
        89,
        0,
    )


async def publish(
    casino: CasinoWorld, headers: dict[str, str], effective_from: datetime, **changes: Any
) -> Any:
    body = {
        "effective_from": effective_from.isoformat(),
        "weights": {"SSR": 100, "SR": 900, "R": 3000, "N": 6000},
        "pools": ONE_EACH,
        **changes,
    }
    return await casino.client.post(
        f"{API}/admin/gacha/banners/standard/rate-tables", json=body, headers=headers
    )


async def test_a_published_table_applies_only_from_its_effective_from(
    casino: CasinoWorld, banners: Database
) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    starts = utcnow() + timedelta(days=2)
    published = await publish(casino, admin.headers, starts)
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    disclosed = await rates(casino, member.headers, "standard")
    assert disclosed["in_force"]["version"] == 1
    assert [t["version"] for t in disclosed["upcoming"]] == [2]
    assert disclosed["upcoming"][0]["base"]["SSR"]["fraction"] == "1/100"
    assert (await pull(casino, member, "standard", 1)).json()["table_version"] == 1
    async with casino.database.unit_of_work() as session:
        before = await gacha.spin(
            session, member.user_id, "standard", 1, now=starts - timedelta(seconds=1)
        )
        after = await gacha.spin(session, member.user_id, "standard", 1, now=starts)
    assert (before.table_version, after.table_version) == (1, 2)
    assert after.outcome["pulls"][0]["item_id"] in {
        "golden-dragon",
        "silver-fox",
        "red-seven",
        "plain-chip",
    }


async def test_a_table_in_the_database_with_a_past_start_applies(
    casino: CasinoWorld, banners: Database
) -> None:
    member = await casino.member()
    past = utcnow() - timedelta(seconds=1)
    async with casino.database.unit_of_work() as session:
        session.add(
            RateTableVersion(
                banner_id="standard", version=2, effective_from=past, published_at=past,
                weights=NO_LUCK, pools=ONE_EACH,
            )
        )  # fmt: skip
    assert (await pull(casino, member, "standard", 1)).json()["table_version"] == 2


async def test_each_process_keeps_pull_terms_until_the_banner_changes(
    casino: CasinoWorld, banners: Database
) -> None:
    """Decision 31: a pull reads its banner's terms from the process cache; a change
    committed by another process (the triggers of migration 0032) or by this one makes the
    next pull read them again."""
    cache = await live_auth_cache()
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    first = await pull(casino, member, "standard", 1)
    assert first.status_code == 200, first.text
    price = first.json()["cost"]

    async def unread() -> gacha.Terms:
        raise AssertionError("the pull did not keep the terms")

    assert (await cache.grant(gacha.CATALOGUE, "standard", unread)).cost_single == price
    async with casino.database.engine.begin() as conn:  # as another process writes
        await conn.execute(
            text("UPDATE casino.gacha_banners SET cost_single = cost_single + 7"
                 " WHERE banner_id = 'standard'")
        )  # fmt: skip

    async def price_now() -> int:
        answer = await pull(casino, member, "standard", 1)
        assert answer.status_code == 200, answer.text
        cost: int = answer.json()["cost"]
        return cost

    await eventually(price_now, until=lambda cost: cost == price + 7)
    closed = await casino.client.patch(
        f"{API}/admin/gacha/banners/standard", json={"close": True}, headers=admin.headers
    )
    assert closed.status_code == 200, closed.text
    assert_error(await pull(casino, member, "standard", 1), 409, "banner_closed")


@pytest.mark.parametrize(
    ("offset", "changes", "code"),
    [
        (timedelta(0), {}, "effective_from_too_soon"),
        (timedelta(days=-1), {}, "effective_from_too_soon"),
        (timedelta(hours=23), {}, "effective_from_too_soon"),
        (timedelta(days=2), {"weights": {"SSR": 0, "SR": 1, "R": 1, "N": 1}}, "invalid_rate_table"),
        (timedelta(days=2), {"weights": {"SSR": 1, "XR": 1}}, "invalid_rate_table"),
        (timedelta(days=2), {"pools": {**ONE_EACH, "SSR": ["no-such-item"]}}, "invalid_rate_table"),
        (timedelta(days=2), {"pools": {**ONE_EACH, "SSR": ["plain-chip"]}}, "invalid_rate_table"),
        (timedelta(days=2), {"weights": "many"}, "validation_error"),
    ],
)  # fmt: skip
async def test_a_bad_rate_table_is_refused(
    casino: CasinoWorld, banners: Database, offset: timedelta, changes: dict[str, Any], code: str
) -> None:
    admin = await casino.member(Rank.ADMIN)
    before = await snapshot(casino.database, ["casino.gacha_rate_tables"])
    assert_error(await publish(casino, admin.headers, utcnow() + offset, **changes), 422, code)
    assert await snapshot(casino.database, ["casino.gacha_rate_tables"]) == before


async def test_publishing_needs_the_admin_rank_and_a_known_banner(casino: CasinoWorld) -> None:
    vip, admin = await casino.member(Rank.VIP), await casino.member(Rank.ADMIN)
    later = utcnow() + timedelta(days=2)
    assert_error(await publish(casino, vip.headers, later), 403, "rank_forbidden")
    assert_error(await publish(casino, {}, later), 401)
    answer = await casino.client.post(
        f"{API}/admin/gacha/banners/nope/rate-tables",
        json={"effective_from": later.isoformat(), "weights": {}, "pools": {}},
        headers=admin.headers,
    )
    assert_error(answer, 404, "banner_not_found")


async def test_an_idempotency_key_pulls_and_charges_once(casino: CasinoWorld) -> None:
    member = await casino.member()
    first = await pull(casino, member, "standard", 1, key="pull-1")
    again = await pull(casino, member, "standard", 1, key="pull-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (
        len(
            (await casino.client.get(f"{API}/gacha/history", headers=member.headers)).json()[
                "items"
            ]
        )
        == 1
    )
    assert_error(
        await pull(casino, member, "standard", 10, key="pull-1"), 409, "idempotency_key_reused"
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"banner_id": "standard", "count": 3}, 422, None),
        ({"banner_id": "standard", "count": "1"}, 422, None),
        ({"banner_id": "standard"}, 422, None),
        ({"banner_id": "Bad Id!", "count": 1}, 422, None),
        ({"banner_id": "no-such-banner", "count": 1}, 404, "banner_not_found"),
    ],
)
async def test_a_refused_pull_writes_nothing(
    casino: CasinoWorld, body: dict[str, Any], status: int, code: str | None
) -> None:
    member = await casino.member()
    await casino.client.get(f"{API}/fairness", headers=member.headers)
    before = await snapshot(casino.database, PLAY_TABLES)
    answer = await casino.client.post(f"{API}/gacha/spin", json=body, headers=member.headers)
    assert_error(answer, status, code)
    assert await snapshot(casino.database, PLAY_TABLES) == before


async def test_not_enough_coins_is_409_and_writes_nothing(casino: CasinoWorld) -> None:
    member = await casino.member()
    for _ in range(2):  # 1,000 - 2 × 100 coins: not enough for a 10-pull (900)
        assert (await pull(casino, member, "standard", 1)).status_code == 200
    before = await snapshot(casino.database, PLAY_TABLES)
    assert_error(await pull(casino, member, "standard", 10), 409, "insufficient_coins")
    assert await snapshot(casino.database, PLAY_TABLES) == before


async def test_a_gem_banner_without_gems_is_409(casino: CasinoWorld, banners: Database) -> None:
    banner_id = await add_banner(banners, weights=NO_LUCK, currency=GEMS)
    member = await casino.member()
    assert_error(await pull(casino, member, banner_id, 1), 409, "insufficient_gems")
    await give(casino.database, member.user_id, GEMS, 10)
    assert (await pull(casino, member, banner_id, 10)).json()["balance"] == 0


async def test_history_is_newest_first_in_pages_and_filters_by_banner(
    casino: CasinoWorld, banners: Database
) -> None:
    other = await add_banner(banners, weights=NO_LUCK)
    member = await casino.member()
    await pull(casino, member, "standard", 1)
    await pull(casino, member, other, 10)
    await pull(casino, member, "standard", 1)
    page = await casino.client.get(
        f"{API}/gacha/history", params={"limit": 5}, headers=member.headers
    )
    items = page.json()["items"]
    assert [i["banner_id"] for i in items] == ["standard"] + [other] * 4
    rest = await casino.client.get(
        f"{API}/gacha/history",
        params={"limit": 50, "cursor": page.json()["next_cursor"]},
        headers=member.headers,
    )
    assert len(rest.json()["items"]) == 7
    assert rest.json()["next_cursor"] is None
    only = await casino.client.get(
        f"{API}/gacha/history", params={"banner_id": "standard"}, headers=member.headers
    )
    assert [i["nonce"] for i in only.json()["items"]] == [3, 1]


async def test_the_gacha_routes_need_a_token(casino: CasinoWorld) -> None:
    client = casino.client
    assert_error(await client.get(f"{API}/gacha/banners"), 401)
    assert_error(await client.get(f"{API}/gacha/banners/standard/rates"), 401)
    assert_error(
        await client.post(f"{API}/gacha/spin", json={"banner_id": "standard", "count": 1}), 401
    )
    assert_error(await client.get(f"{API}/gacha/history"), 401)


async def test_rates_of_an_unknown_banner_are_404(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await casino.client.get(f"{API}/gacha/banners/nope/rates", headers=member.headers)
    assert_error(answer, 404, "banner_not_found")
