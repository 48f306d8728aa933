"""B6 admin: member search and detail, rank and status changes (a suspended or deleted
member's live token refused at once, in this process and through the auth notices), invite
batches (each code once), banners, promo codes, the audit log's filters, events debug."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.admin import service as admin_service
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.models import User
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, PASSWORD, CasinoWorld, Member
from tests.apps.casino.scene import all_rows
from tests.outboxes import Outboxes
from tests.polling import eventually

ADMIN = f"{API}/admin"


@pytest.fixture
async def admin(casino: CasinoWorld) -> Member:
    return await casino.member(Rank.ADMIN)


async def get(casino: CasinoWorld, who: Member, path: str, **params: Any) -> Any:
    response = await casino.client.get(f"{ADMIN}{path}", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def patch_user(casino: CasinoWorld, admin: Member, user_id: uuid.UUID, **body: Any) -> Any:
    return await casino.client.patch(f"{ADMIN}/users/{user_id}", json=body, headers=admin.headers)


# members


async def test_search_by_nickname_prefix_rank_and_status_pages_newest_first(
    casino: CasinoWorld, admin: Member
) -> None:
    prefix = f"q{uuid.uuid4().hex[:6]}"
    found = []
    for n in range(3):
        signed = await casino.sign_up(f"{prefix}_{n}")
        found.append(signed.json()["user"]["user_id"])
    await casino.sign_up(f"{prefix}x0")  # `_` is no wildcard: not a match of `{prefix}_`
    vip = await casino.member(Rank.VIP)
    suspended = (await patch_user(casino, admin, uuid.UUID(found[0]), status="suspended")).json()

    first = await get(casino, admin, "/users", nickname=f"{prefix.upper()}_", limit=2)
    rest = await get(casino, admin, "/users", nickname=f"{prefix}_", cursor=first["next_cursor"])
    assert [m["user_id"] for m in first["items"] + rest["items"]] == found[::-1]
    assert rest["next_cursor"] is None
    assert [m["user_id"] for m in (await get(casino, admin, "/users", rank="VIP"))["items"]] == [
        str(vip.user_id)
    ]
    only = await get(casino, admin, "/users", status="suspended")
    assert [m["user_id"] for m in only["items"]] == [suspended["user_id"]]
    active = await get(casino, admin, "/users", nickname=prefix, status="active")
    assert len(active["items"]) == 3


async def test_the_nickname_search_is_served_by_its_index(casino: CasinoWorld) -> None:
    """The search's condition (any case, by prefix) can use `ix_users_nickname_prefix`: at
    millions of members it must not scan them all."""
    statement = select(User.account_id).where(admin_service.nickname_starts_with("Ab_c"))
    async with casino.database.engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = statement.compile(conn.engine, compile_kwargs={"literal_binds": True})
        plan = "\n".join((await conn.execute(text(f"EXPLAIN {compiled}"))).scalars())
    assert "ix_users_nickname_prefix" in plan, plan


async def test_detail_shows_wallet_streak_counts_and_live_sessions(
    casino: CasinoWorld, admin: Member
) -> None:
    member = await casino.member()
    spun = await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": 10}, headers=member.headers
    )
    assert spun.status_code == 200, spun.text
    detail = await get(casino, admin, f"/users/{member.user_id}")
    assert detail["status"] == "active"
    assert detail["streak"] == 1
    assert detail["coins"] == spun.json()["balance"]
    assert detail["counts"]["hands"] == 1
    assert detail["counts"]["actions"] >= 1
    assert len(detail["sessions"]) == 2  # the sign-up's and the login's
    log = await get(casino, admin, f"/users/{member.user_id}/actions", action_type="SLOT_SPIN")
    assert [a["action_type"] for a in log["items"]] == ["SLOT_SPIN"]
    missing = await casino.client.get(f"{ADMIN}/users/{uuid.uuid4()}", headers=admin.headers)
    assert_error(missing, 404, "user_not_found")


async def test_a_suspension_refuses_the_live_token_at_once_and_reactivation_restores_it(
    casino: CasinoWorld, admin: Member
) -> None:
    member = await casino.member()
    assert (await casino.client.get(f"{API}/auth/me", headers=member.headers)).status_code == 200
    changed = await patch_user(casino, admin, member.user_id, status="suspended", reason="abuse")
    assert changed.json()["status"] == "suspended"
    assert_error(
        await casino.client.get(f"{API}/auth/me", headers=member.headers), 401, "account_disabled"
    )
    refresh = await casino.client.post(
        f"{API}/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert refresh.status_code == 401
    login = await casino.client.post(
        f"{API}/auth/login", json={"nickname": member.nickname, "password": PASSWORD}
    )
    assert login.status_code == 401

    assert (await patch_user(casino, admin, member.user_id, status="active")).status_code == 200
    assert (await casino.client.get(f"{API}/auth/me", headers=member.headers)).status_code == 200
    assert (await get(casino, admin, f"/users/{member.user_id}"))["status_reason"] is None


async def test_a_status_written_by_another_process_reaches_the_auth_cache(
    casino: CasinoWorld,
) -> None:
    """The trigger of migration 0031 tells this process's auth cache (decision 22)."""
    member = await casino.member()
    me = f"{API}/auth/me"
    assert (await casino.client.get(me, headers=member.headers)).status_code == 200  # cached
    async with casino.database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO casino.member_status (user_id, status, changed_by, changed_at)"
                " VALUES (:id, 'suspended', :id, now())"
            ),
            {"id": member.user_id},
        )

    async def status() -> int:
        return (await casino.client.get(me, headers=member.headers)).status_code

    await eventually(status, lambda code: code == 401, timeout=5)


async def test_soft_delete_refuses_the_token_keeps_the_rows_and_is_final(
    casino: CasinoWorld, admin: Member
) -> None:
    member = await casino.member()
    deleted = await casino.client.delete(f"{ADMIN}/users/{member.user_id}", headers=admin.headers)
    assert deleted.status_code == 204
    assert_error(
        await casino.client.get(f"{API}/auth/me", headers=member.headers), 401, "account_disabled"
    )
    assert_error(await casino.sign_up(member.nickname), 409, "nickname_taken")
    before = await all_rows(casino.database)
    again = await casino.client.delete(f"{ADMIN}/users/{member.user_id}", headers=admin.headers)
    assert again.status_code == 204
    assert await all_rows(casino.database) == before
    assert_error(
        await patch_user(casino, admin, member.user_id, status="active"), 409, "user_deleted"
    )
    assert (await get(casino, admin, f"/users/{member.user_id}"))["status"] == "deleted"


async def test_an_admin_cannot_change_or_delete_their_own_account(
    casino: CasinoWorld, admin: Member
) -> None:
    before = await all_rows(casino.database)
    assert_error(
        await patch_user(casino, admin, admin.user_id, rank="STANDARD"), 409, "own_account"
    )
    own = await casino.client.delete(f"{ADMIN}/users/{admin.user_id}", headers=admin.headers)
    assert_error(own, 409, "own_account")
    assert await all_rows(casino.database) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": "only"}, {"status": "deleted"}, {"rank": None}, {"rank": "KING"}, {"x": 1}],
)
async def test_a_bad_member_change_is_422_and_writes_nothing(
    casino: CasinoWorld, admin: Member, body: dict[str, Any]
) -> None:
    member = await casino.member()
    before = await all_rows(casino.database)
    assert_error(await patch_user(casino, admin, member.user_id, **body), 422, "validation_error")
    assert await all_rows(casino.database) == before


async def test_a_rank_change_applies_to_the_live_token(casino: CasinoWorld, admin: Member) -> None:
    member = await casino.member()
    promoted = await patch_user(casino, admin, member.user_id, rank="ADMIN")
    assert promoted.json()["rank"] == "ADMIN"
    assert (await casino.client.get(f"{ADMIN}/audit", headers=member.headers)).status_code == 200


# invites


async def test_a_batch_of_invites_signs_up_one_member_each(
    casino: CasinoWorld, admin: Member
) -> None:
    made = await casino.client.post(f"{ADMIN}/invites", json={"count": 3}, headers=admin.headers)
    assert made.status_code == 201, made.text
    codes = [c["code"] for c in made.json()["codes"]]
    assert len(set(codes)) == 3
    assert {c["created_by"] for c in made.json()["codes"]} == {str(admin.user_id)}
    for code in codes:
        assert (await casino.sign_up(f"i{uuid.uuid4().hex[:10]}", code)).status_code == 201
        assert_error(await casino.sign_up(f"i{uuid.uuid4().hex[:10]}", code), 409, "invite_used")
    listed = await get(casino, admin, "/invites")
    assert {c["code"]: c["uses"] for c in listed["items"]} == dict.fromkeys(codes, 1)
    batch = await get(casino, admin, "/audit", target_id=made.json()["batch_id"])
    assert batch["items"][0]["details"]["codes"] == sorted(codes)


@pytest.mark.parametrize("body", [{"count": 0}, {"count": 101}, {"count": 1, "max_uses": 0}])
async def test_a_bad_invite_batch_is_422(
    casino: CasinoWorld, admin: Member, body: dict[str, Any]
) -> None:
    made = await casino.client.post(f"{ADMIN}/invites", json=body, headers=admin.headers)
    assert_error(made, 422, "validation_error")


# catalogue


async def test_a_new_banner_is_listed_and_a_closed_one_refuses_pulls(
    casino: CasinoWorld, admin: Member
) -> None:
    member = await casino.member()
    body = {"banner_id": "fresh", "name": "Fresh", "currency": "coins", "cost_single": 100,
            "cost_ten": 900, "hard_pity": 90}  # fmt: skip
    made = await casino.client.post(f"{ADMIN}/gacha/banners", json=body, headers=admin.headers)
    assert made.status_code == 201, made.text
    assert_error(
        await casino.client.post(f"{ADMIN}/gacha/banners", json=body, headers=admin.headers),
        409,
        "banner_exists",
    )
    no_rates = await casino.client.post(
        f"{API}/gacha/spin", json={"banner_id": "fresh", "count": 1}, headers=member.headers
    )
    assert_error(no_rates, 409, "no_rate_table")
    closed = await casino.client.patch(
        f"{ADMIN}/gacha/banners/standard", json={"close": True}, headers=admin.headers
    )
    assert closed.status_code == 200
    assert closed.json()["ends_at"] is not None
    spin = await casino.client.post(
        f"{API}/gacha/spin", json={"banner_id": "standard", "count": 1}, headers=member.headers
    )
    assert_error(spin, 409, "banner_closed")
    listed = await get(casino, admin, "/gacha/banners")
    assert {"fresh", "standard"} <= {b["banner_id"] for b in listed["items"]}


async def test_products_include_disabled_ones_and_a_deactivated_promo_is_off(
    casino: CasinoWorld, admin: Member
) -> None:
    off = await casino.client.put(
        f"{API}/admin/shop/products/gems-100/enabled",
        json={"enabled": False},
        headers=admin.headers,
    )
    assert off.status_code == 200
    products = await get(casino, admin, "/shop/products", limit=100)
    assert {
        p["product_id"]: p["is_enabled"] for p in products["items"] if p["product_id"] == "gems-100"
    } == {"gems-100": False}
    made = await casino.client.post(
        f"{API}/admin/shop/promo-codes",
        json={"code": "OFF10", "kind": "percent", "percent_off": 10},
        headers=admin.headers,
    )
    assert made.status_code == 201
    gone = await casino.client.post(
        f"{ADMIN}/shop/promo-codes/OFF10/deactivate", headers=admin.headers
    )
    assert gone.json()["is_active"] is False
    assert (await get(casino, admin, "/shop/promo-codes", active="true"))["items"] == []
    missing = await casino.client.post(
        f"{ADMIN}/shop/promo-codes/NOPE/deactivate", headers=admin.headers
    )
    assert_error(missing, 404, "promo_not_found")


# audit


async def test_the_audit_log_filters_by_admin_action_and_target(
    casino: CasinoWorld, admin: Member
) -> None:
    other_admin = await casino.member(Rank.ADMIN)
    member = await casino.member()
    await patch_user(casino, admin, member.user_id, rank="PREMIUM")
    await patch_user(casino, other_admin, member.user_id, rank="VIP")
    await casino.client.post(f"{ADMIN}/invites", json={"count": 1}, headers=admin.headers)

    on_member = await get(casino, admin, "/audit", target_type="user", target_id=member.user_id)
    assert [(e["admin_id"], e["details"]["rank"]) for e in on_member["items"]] == [
        (str(other_admin.user_id), "VIP"),
        (str(admin.user_id), "PREMIUM"),
    ]
    mine = await get(casino, admin, "/audit", admin_id=admin.user_id)
    assert [e["action"] for e in mine["items"]] == ["invite.create", "user.update"]
    invites = await get(casino, admin, "/audit", action="invite.create")
    assert len(invites["items"]) == 1


# events debug


async def test_a_debug_event_is_produced_shown_without_personal_data_and_relayed(
    casino: CasinoWorld, admin: Member, redis: Redis
) -> None:
    body = {"message": "ping", "data": {"email": "ace@example.com", "note": "call 01012345678"}}
    made = await casino.client.post(f"{ADMIN}/events/produce", json=body, headers=admin.headers)
    assert made.status_code == 201, made.text
    last = await get(casino, admin, "/events/last", type="casino.debug")
    [event] = last
    assert event["event_id"] == made.json()["event_id"]
    assert event["published_at"] is None
    assert "email" not in event["payload"]["data"]
    assert "01012345678" not in event["payload"]["data"]["note"]
    health = await get(casino, admin, "/events/health")
    assert health["transport"] == "redis-streams"
    assert health["relay"]["pending"] >= 1
    assert "casino.achievements" in {c["consumer"] for c in health["consumers"]}

    await Outboxes(casino.settings, casino.database, redis, [casino_app]).settle()
    assert (await get(casino, admin, "/events/health"))["relay"]["pending"] == 0
    [relayed] = await get(casino, admin, "/events/last", type="casino.debug", limit=1)
    assert relayed["published_at"] is not None
