"""Recommendations by segment (defaults without one), their rules' admin CRUD (audited,
validated, nothing written on refusal), and the quiz: consent required, the self-check's
risk level, a high-risk result leaving only non-promotional offers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.segments.domain import RfmGroup
from ensemble.apps.casino.segments.models import UserSegment
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.scene import all_rows

RULES = f"{API}/admin/recommendation-rules"


def quiz(answers: list[int], consent: bool = True) -> dict[str, Any]:
    return {
        "consent": consent,
        "survey": {"motivation": "collecting", "session_length": "short"},
        "self_check": answers,
    }


HIGH = [1, 1, 1, 1, 1, 1, 1, 1, 0]  # 8: high risk
LOW = [1, 0, 0, 0, 0, 0, 0, 0, 0]


async def place(casino: CasinoWorld, member: Member, group: RfmGroup) -> None:
    async with casino.database.unit_of_work() as session:
        session.add(
            UserSegment(
                user_id=member.user_id, rfm_group=group, r=5, f=5, m=5,
                ltv_score=Decimal("10.00"), last_active_on=utcnow().date(), active_days=20,
                money_cents=60000, updated_at=utcnow(),
            )
        )  # fmt: skip


async def offers(casino: CasinoWorld, member: Member) -> dict[str, Any]:
    answer = await casino.client.get(f"{API}/recommend/personalized", headers=member.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_offers_follow_the_segment_and_default_without_one(casino: CasinoWorld) -> None:
    member = await casino.member()
    fresh = await offers(casino, member)
    assert fresh["segment"] is None
    assert [o["ref"] for o in fresh["offers"]] == ["first-steps", "gems-100"]

    await place(casino, member, RfmGroup.WHALE)
    whale = await offers(casino, member)
    assert whale["segment"]["rfm_group"] == "WHALE"
    assert [o["ref"] for o in whale["offers"]] == ["founders-pack", "gems-1200", "standard"]
    assert [o["rank"] for o in whale["offers"]] == [1, 2, 3]


async def test_a_high_risk_self_check_leaves_no_promotional_offer(casino: CasinoWorld) -> None:
    member = await casino.member()
    await place(casino, member, RfmGroup.WHALE)
    taken = await casino.client.post(f"{API}/quiz/submit", json=quiz(HIGH), headers=member.headers)
    assert taken.status_code == 201, taken.text
    assert (taken.json()["risk_score"], taken.json()["risk_level"]) == (8, "high")
    assert "take-a-cool-off" in taken.json()["suggestions"]

    calm = await offers(casino, member)
    assert calm["risk_level"] == "high"
    assert calm["offers"]
    assert not any(o["promotional"] for o in calm["offers"])
    assert calm["offers"][0]["kind"] == "limit"

    again = await casino.client.post(f"{API}/quiz/submit", json=quiz(LOW), headers=member.headers)
    assert again.json()["risk_level"] == "low"
    assert any(o["promotional"] for o in (await offers(casino, member))["offers"])
    last = await casino.client.get(f"{API}/quiz/me", headers=member.headers)
    assert last.json()["quiz_id"] == again.json()["quiz_id"]
    assert last.json()["play_style"] == "collector"


async def test_the_quiz_is_stored_only_with_consent_and_valid_answers(casino: CasinoWorld) -> None:
    member = await casino.member()
    assert_error(await casino.client.get(f"{API}/quiz/me", headers=member.headers), 404,
                 "quiz_not_taken")  # fmt: skip
    before = await all_rows(casino.database)
    refused = {
        "consent_required": quiz(HIGH, consent=False),
        "validation_error": {**quiz(HIGH), "consent": "yes"},
    }
    for code, body in refused.items():
        answer = await casino.client.post(f"{API}/quiz/submit", json=body, headers=member.headers)
        assert_error(answer, 422, code)
    for body in (
        quiz([4] * 9),
        quiz([0] * 8),
        {**quiz(LOW), "extra": 1},
        {**quiz(LOW), "survey": {"motivation": "money", "session_length": "short"}},
    ):
        answer = await casino.client.post(f"{API}/quiz/submit", json=body, headers=member.headers)
        assert_error(answer, 422, "validation_error")
    assert await all_rows(casino.database) == before


async def test_admins_edit_rules_audited_and_members_see_them(casino: CasinoWorld) -> None:
    admin, member = await casino.member(rank="ADMIN"), await casino.member()  # type: ignore[arg-type]
    rule = {"segment": "DEFAULT", "kind": "product", "ref": "gems-550", "title": "550",
            "rank": 1, "promotional": True}  # fmt: skip
    added = await casino.client.post(RULES, json=rule, headers=admin.headers)
    assert added.status_code == 201, added.text
    rule_id = added.json()["rule_id"]
    assert_error(await casino.client.post(RULES, json=rule, headers=admin.headers), 409,
                 "rule_exists")  # fmt: skip
    changed = await casino.client.patch(f"{RULES}/{rule_id}", json={"rank": 9},
                                        headers=admin.headers)  # fmt: skip
    assert changed.json()["rank"] == 9
    assert (await offers(casino, member))["offers"][-1]["ref"] == "gems-550"
    listed = await casino.client.get(RULES, params={"segment": "DEFAULT"}, headers=admin.headers)
    assert {each["ref"] for each in listed.json()["items"]} == {"first-steps", "gems-100",
                                                                "gems-550"}  # fmt: skip
    removed = await casino.client.delete(f"{RULES}/{rule_id}", headers=admin.headers)
    assert removed.status_code == 204
    assert_error(await casino.client.get(f"{RULES}/{rule_id}", headers=admin.headers), 404,
                 "rule_not_found")  # fmt: skip
    async with casino.database.sessionmaker() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["rule.create", "rule.update", "rule.delete"]


async def test_bad_rules_are_refused_and_write_nothing(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    base = {"segment": "MEDIUM", "kind": "product", "ref": "gems-550", "title": "x", "rank": 1,
            "promotional": True}  # fmt: skip
    before = await all_rows(casino.database)
    bad = {
        "unknown_offer": {**base, "ref": "no-such-product"},
        "validation_error": {**base, "kind": "limit"},  # a promotional limit suggestion
    }
    for code, body in bad.items():
        assert_error(await casino.client.post(RULES, json=body, headers=admin.headers), 422, code)
    for body in ({**base, "segment": "VIP"}, {**base, "rank": 0}, {**base, "ref": "a b"}):
        assert_error(await casino.client.post(RULES, json=body, headers=admin.headers), 422)
    shipped = (await casino.client.get(RULES, headers=admin.headers)).json()["items"]
    limit = next(each for each in shipped if each["kind"] == "limit")
    patched = await casino.client.patch(
        f"{RULES}/{limit['rule_id']}", json={"promotional": True}, headers=admin.headers
    )
    assert_error(patched, 422, "validation_error")
    assert await all_rows(casino.database) == before
