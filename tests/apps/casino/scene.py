"""One Casino-Club world with a row of every kind, for the tests that call every route (the
auth matrix, the fuzzing): a member, another member, an admin, and the ids the routes name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.missions import service as missions
from ensemble.kernel.db import Database, utcnow
from tests.apicheck import snapshot, tables_of
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.shopkit import ShopWorld, paid


@dataclass(frozen=True)
class Scene:
    """`member` plays and shops (a reward granted, a slot session open, 100 gems bought
    with money and paid);
    `other` is another member; `admin` runs the place (the member has done today's
    `daily-login` mission, `key`). `values` are the ids, named as in the routes (`user_id` is
    the other member's; `product_id` a test product of the shop; `promo_code` an active promo
    code)."""

    member: Member
    other: Member
    admin: Member
    values: dict[str, str]


async def build_scene(casino: CasinoWorld) -> Scene:
    member, other = await casino.member(), await casino.member()
    admin = await casino.member(Rank.ADMIN)
    sessions = await casino.client.get(f"{API}/auth/sessions", headers=member.headers)
    assert sessions.status_code == 200, sessions.text
    reward = await casino.client.post(
        f"{API}/rewards",
        json={"user_id": str(member.user_id), "kind": "coins", "amount": 50,
              "reason": "scene", "idempotency_key": "scene-reward"},
        headers=admin.headers,
    )  # fmt: skip
    assert reward.status_code == 201, reward.text
    playing = await casino.client.post(
        f"{API}/games/session/start", json={"game_type": "slot"}, headers=member.headers
    )
    assert playing.status_code == 201, playing.text
    shop = ShopWorld(casino)
    bought = await shop.buy(member, "gems-100")
    assert bought.status_code == 201, bought.text
    settled = await shop.webhook(paid(bought.json()))
    assert settled.status_code == 200, settled.text
    promo = await casino.client.post(
        f"{API}/admin/shop/promo-codes",
        json={"code": "SCENE5", "kind": "percent", "percent_off": 5},
        headers=admin.headers,
    )
    assert promo.status_code == 201, promo.text
    values = {
        "user_id": str(other.user_id),
        "member_id": str(member.user_id),
        "session_id": sessions.json()[0]["session_id"],
        "code": await casino.invite(),
        "reward_id": reward.json()["reward_id"],
        "product_id": await shop.product(),
        "purchase_id": bought.json()["purchase_id"],
        "banner_id": "standard",
        "promo_code": "SCENE5",
        **await _segments_scene(casino, member, admin),
        "key": await _daily_login_done(casino, member),
    }
    return Scene(member, other, admin, values)


async def _segments_scene(casino: CasinoWorld, member: Member, admin: Member) -> dict[str, str]:
    """The member took the quiz; a recommendation rule and a scheduled campaign (B1, B6)."""
    quiz = {"consent": True, "survey": {"motivation": "fun", "session_length": "short"},
            "self_check": [0] * 9}  # fmt: skip
    taken = await casino.client.post(f"{API}/quiz/submit", json=quiz, headers=member.headers)
    assert taken.status_code == 201, taken.text
    rules = await casino.client.get(f"{API}/admin/recommendation-rules", headers=admin.headers)
    campaign = {"title": "Scene", "segment": "all", "promotional": False,
                "send_at": "2099-01-01T00:00:00Z"}  # fmt: skip
    scheduled = await casino.client.post(
        f"{API}/admin/campaigns", json=campaign, headers=admin.headers
    )
    assert scheduled.status_code == 201, scheduled.text
    return {
        "rule_id": rules.json()["items"][0]["rule_id"],
        "campaign_id": scheduled.json()["campaign_id"],
    }


async def _daily_login_done(casino: CasinoWorld, member: Member) -> str:
    """The member has done today's `daily-login` mission (B3): its claim is served."""
    async with casino.database.unit_of_work() as session:
        await missions.advance(session, member.user_id, "LOGIN", {}, utcnow())
    return "daily-login"


async def all_rows(database: Database) -> dict[str, list[str]]:
    """Every row a route could write (Casino-Club's, the accounts, ledger, jobs and events):
    equal snapshots mean nothing was written."""
    schemas = (*casino_app.schemas, "identity", "ledger", "jobs", "events")
    return await snapshot(database, await tables_of(database, *schemas))
