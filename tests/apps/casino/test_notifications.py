"""The inbox over HTTP (list, filters, unread count, read marks, mute settings), what other
parts send through it (rewards, purchases, achievements), retention, the replay backlog and
the push/e-mail jobs honouring mutes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ensemble.apps.casino.achievements import service as achievements
from ensemble.apps.casino.domain import NotificationCategory, Rank
from ensemble.apps.casino.notifications import service as notifications
from ensemble.apps.casino.notifications.domain import REPLAY_LIMIT, Channel
from ensemble.apps.casino.notifications.models import Notification, NotificationCursor
from ensemble.apps.casino.notifications.ports import ADAPTERS
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.inboxkit import send
from tests.apps.casino.shopkit import ShopWorld, paid

REWARD, SYSTEM = NotificationCategory.REWARD, NotificationCategory.SYSTEM


async def listed(casino: CasinoWorld, member: Member, **params: Any) -> dict[str, Any]:
    response = await casino.client.get(
        f"{API}/notifications", params=params, headers=member.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_inbox_lists_newest_first_in_pages_and_filters(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    await send(casino.database, member.user_id, 3)
    await send(casino.database, member.user_id, 2, REWARD)
    await send(casino.database, other.user_id, 1)
    first = await listed(casino, member, limit=3)
    assert [n["id"] for n in first["items"]] == [5, 4, 3]
    rest = await listed(casino, member, limit=3, cursor=first["next_cursor"])
    assert ([n["id"] for n in rest["items"]], rest["next_cursor"]) == ([2, 1], None)
    rewards = await listed(casino, member, category="reward")
    assert [(n["id"], n["category"]) for n in rewards["items"]] == [(5, "reward"), (4, "reward")]
    bad = await casino.client.get(
        f"{API}/notifications", params={"category": "nope"}, headers=member.headers
    )
    assert_error(bad, 422)


async def test_read_marks_count_and_touch_only_your_own(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    await send(casino.database, member.user_id, 4)
    await send(casino.database, other.user_id, 2)

    async def post(path: str, who: Member, body: Any = None) -> dict[str, Any]:
        response = await casino.client.post(f"{API}{path}", json=body, headers=who.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    assert await post("/notifications/read", member, {"ids": [1, 2, 2, 99]}) == {
        "marked": 2,
        "unread_count": 2,
    }
    again = await post("/notifications/read", member, {"ids": [1]})
    assert again == {"marked": 0, "unread_count": 2}
    unread = await listed(casino, member, unread="true")
    assert [n["id"] for n in unread["items"]] == [4, 3]
    count = await casino.client.get(f"{API}/notifications/unread-count", headers=other.headers)
    assert count.json() == {"unread_count": 2}  # the member's marks left the other's alone
    assert await post("/notifications/read-all", member) == {"marked": 2, "unread_count": 0}
    bodies: list[dict[str, Any]] = [{"ids": []}, {"ids": ["1"]}, {"ids": [1], "all": True}, {}]
    for body in bodies:
        response = await casino.client.post(
            f"{API}/notifications/read", json=body, headers=member.headers
        )
        assert_error(response, 422)


async def test_settings_mute_categories_but_never_responsible_play(casino: CasinoWorld) -> None:
    member = await casino.member()
    url = f"{API}/notifications/settings"
    empty: dict[str, list[str]] = {"muted_live": [], "muted_push": [], "muted_email": []}
    assert (await casino.client.get(url, headers=member.headers)).json() == empty
    wanted = {"muted_live": ["reward", "wallet"], "muted_push": ["campaign"], "muted_email": []}
    put = await casino.client.put(url, json=wanted, headers=member.headers)
    assert put.status_code == 200, put.text
    assert put.json() == wanted
    before = await snapshot(casino.database, ["casino.notification_settings"])
    refusals: list[dict[str, list[str]]] = [
        {"muted_live": ["responsible_play"]},
        {"muted_email": ["nope"]},
        {"muted_live": [], "sms": []},
    ]
    for body in refusals:
        assert_error(await casino.client.put(url, json=body, headers=member.headers), 422)
    refused = await casino.client.put(
        url, json={"muted_push": ["responsible_play"]}, headers=member.headers
    )
    assert_error(refused, 422, "category_not_mutable")
    assert await snapshot(casino.database, ["casino.notification_settings"]) == before
    assert (await casino.client.get(url, headers=member.headers)).json() == wanted


async def test_rewards_purchases_and_achievements_land_in_the_inbox(casino: CasinoWorld) -> None:
    member, admin = await casino.member(), await casino.member(Rank.ADMIN)
    granted = await casino.client.post(
        f"{API}/rewards",
        json={"user_id": str(member.user_id), "kind": "coins", "amount": 50,
              "reason": "welcome back", "idempotency_key": "inbox-1"},
        headers=admin.headers,
    )  # fmt: skip
    assert granted.status_code == 201, granted.text
    shop = ShopWorld(casino)
    bought = await shop.buy(member, "gems-100")
    assert (await shop.webhook(paid(bought.json()))).status_code == 200
    refunded = await casino.client.post(
        f"{API}/admin/shop/purchases/{bought.json()['purchase_id']}/refund",
        json={"reason": "test"},
        headers=admin.headers,
    )
    assert refunded.status_code == 200, refunded.text
    async with casino.database.unit_of_work() as session:
        [key] = await achievements.advance(session, member.user_id, "SHOP_PURCHASE")
    inbox = (await listed(casino, member))["items"]
    assert [(n["id"], n["category"]) for n in inbox] == [
        (4, "achievement"),
        (3, "wallet"),
        (2, "wallet"),
        (1, "reward"),
    ]
    assert inbox[3]["title"] == "Reward: 50 coins"
    assert inbox[3]["data"]["reward_id"] == granted.json()["reward_id"]
    assert inbox[2]["title"] == "Purchase complete: 100 gems"
    assert inbox[1]["data"]["purchase_id"] == bought.json()["purchase_id"]
    assert inbox[0]["data"]["key"] == key


async def test_past_retention_the_backlog_is_a_resync(casino: CasinoWorld) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 5)
    async with casino.database.unit_of_work() as session:
        old = utcnow() - timedelta(days=100)
        await session.execute(
            update(Notification)
            .where(Notification.user_id == member.user_id, Notification.id <= 2)
            .values(created_at=old)
        )
        deleted = await notifications.delete_expired(session, before=utcnow() - timedelta(days=90))
    assert deleted == 2
    async with casino.database.sessionmaker() as session:
        kept = await notifications.backlog(session, member.user_id, 2)
        assert kept.last_id == 5
        assert [m["id"] for m in kept.messages or []] == [3, 4, 5]
        for after in (0, 1, 6):  # their messages are gone; a client ahead of the server
            assert (await notifications.backlog(session, member.user_id, after)).messages is None
        assert (await notifications.backlog(session, member.user_id, 5)).messages == []


async def test_a_client_too_far_behind_resyncs(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        session.add(NotificationCursor(user_id=member.user_id, last_id=REPLAY_LIMIT + 1))
        await session.flush()
        backlog = await notifications.backlog(session, member.user_id, 0)
    assert (backlog.last_id, backlog.messages) == (REPLAY_LIMIT + 1, None)


async def test_push_and_email_honour_mutes_and_mask_the_address(
    casino: CasinoWorld, caplog: pytest.LogCaptureFixture
) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 1, REWARD)
    await send(casino.database, member.user_id, 1, NotificationCategory.RESPONSIBLE_PLAY)
    async with casino.database.unit_of_work() as session:
        muted = notifications.Mutes(email=frozenset({"reward"}))
        await notifications.set_mutes(session, member.user_id, muted)
    caplog.set_level(logging.INFO, "ensemble.apps.casino.notifications")
    sent = {}
    async with casino.database.unit_of_work() as session:
        for channel in (Channel.EMAIL, Channel.PUSH):
            for notification_id in (1, 2):
                sent[channel.value, notification_id] = await notifications.deliver(
                    session, member.user_id, notification_id, channel, ADAPTERS["log"]
                )
    assert sent == {("email", 1): False, ("email", 2): True, ("push", 1): True, ("push", 2): True}
    logged = caplog.text
    assert member.nickname[0] + "***@casino.invalid" in logged
    assert member.nickname not in logged
