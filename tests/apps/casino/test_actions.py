"""`POST /api/actions` and friends: grouped commits under concurrency (every accepted action
stored once, with its event), unknown types and bad contexts refused with nothing written,
personal data stripped before storage and publication, admins extending the types,
`record_action` in a caller's transaction, your recent actions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from ensemble.apps.casino.actions import service as actions
from ensemble.apps.casino.actions.models import Action, ActionType
from ensemble.apps.casino.actions.service import ActionRecorder, UnknownActionType
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.kernel.db import Database
from ensemble.kernel.events.models import OutboxEvent
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld, Member

ACTIONS = f"{API}/actions"


async def stored(database: Database) -> list[Action]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(Action).order_by(Action.id)))


async def transactions_of_actions(database: Database) -> int:
    """How many transactions wrote the stored actions (their rows' `xmin`)."""
    async with database.unit_of_work() as session:
        found = await session.scalar(text("SELECT count(DISTINCT xmin::text) FROM casino.actions"))
        return int(found or 0)


async def events(database: Database) -> list[OutboxEvent]:
    async with database.unit_of_work() as session:
        query = select(OutboxEvent).where(OutboxEvent.type == ActionRecorded.TYPE)
        return list(await session.scalars(query.order_by(OutboxEvent.seq)))


async def post(casino: CasinoWorld, member: Member, body: Any) -> Any:
    return await casino.client.post(ACTIONS, json=body, headers=member.headers)


async def test_an_action_is_stored_and_published(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await post(casino, member, {"action_type": "PAGE_VIEW", "context": {"screen": "x"}})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["action_type"] == "PAGE_VIEW"
    assert body["context"] == {"screen": "x"}
    [row] = await stored(casino.database)
    assert (row.id, row.user_id, row.context) == (
        uuid.UUID(body["action_id"]),
        member.user_id,
        {"screen": "x"},
    )
    [event] = await events(casino.database)
    assert (event.aggregate_type, event.aggregate_id) == (AGGREGATE_ACTION, str(member.user_id))
    published = ActionRecorded.model_validate(event.payload)
    assert published.action_id == row.id
    assert published.user_id == member.user_id
    assert published.action_type == "PAGE_VIEW"
    assert published.context == {"screen": "x"}
    assert published.occurred_at == row.created_at


async def test_personal_data_is_stripped_before_it_is_stored_or_published(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    context = {"screen": "profile", "email": "a@b.co", "note": "call 010-1234-5678"}
    answer = await post(casino, member, {"action_type": "BUTTON_CLICK", "context": context})
    assert answer.status_code == 201, answer.text
    clean = {"screen": "profile", "note": "call [redacted]"}
    assert answer.json()["context"] == clean
    [row] = await stored(casino.database)
    assert row.context == clean
    [event] = await events(casino.database)
    assert event.payload["context"] == clean


async def test_concurrent_actions_are_each_stored_once_with_one_event(
    casino: CasinoWorld,
) -> None:
    members = [await casino.member() for _ in range(4)]
    sent = [
        (member, {"action_type": "BUTTON_CLICK", "context": {"n": n}})
        for n in range(300)
        for member in [members[n % len(members)]]
    ]
    answers = await asyncio.gather(*(post(casino, member, body) for member, body in sent))
    assert [answer.status_code for answer in answers] == [201] * len(sent)
    ids = {uuid.UUID(answer.json()["action_id"]) for answer in answers}
    rows = await stored(casino.database)
    assert {row.id for row in rows} == ids
    assert sorted(row.context["n"] for row in rows) == list(range(300))
    published = await events(casino.database)
    assert sorted(uuid.UUID(event.payload["action_id"]) for event in published) == sorted(ids)


async def test_a_group_mixing_known_and_unknown_types_refuses_only_the_unknown(
    casino: CasinoWorld,
) -> None:
    members = [await casino.member() for _ in range(2)]
    bodies = [{"action_type": "PAGE_VIEW" if n % 2 else "NO_SUCH_TYPE"} for n in range(40)]
    answers = await asyncio.gather(
        *(post(casino, members[n % 2], body) for n, body in enumerate(bodies))
    )
    for n, answer in enumerate(answers):
        if n % 2:
            assert answer.status_code == 201, answer.text
        else:
            assert_error(answer, 422, "unknown_action_type")
    assert len(await stored(casino.database)) == 20
    assert len(await events(casino.database)) == 20


async def test_the_recorder_groups_concurrent_actions(casino: CasinoWorld) -> None:
    """Many callers at once commit in far fewer transactions than callers."""
    member = await casino.member()
    recorder = ActionRecorder(max_batch=50)
    batch = [actions.new_action(member.user_id, "PAGE_VIEW", {"n": n}) for n in range(200)]
    await asyncio.gather(*(recorder.record(casino.database, each) for each in batch))
    await recorder.wait_idle()
    assert len(await stored(casino.database)) == 200
    commits = await transactions_of_actions(casino.database)
    assert 4 <= commits <= 10  # at most 50 a group; the first caller's group may be alone


BAD_BODIES = [
    {},
    {"action_type": "page_view"},
    {"action_type": "PAGE_VIEW", "context": []},
    {"action_type": "PAGE_VIEW", "context": "x"},
    {"action_type": "PAGE_VIEW", "context": {"big": "x" * 5000}},
    {"action_type": "PAGE_VIEW", "context": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
    {"action_type": "PAGE_VIEW", "extra": 1},
    {"action_type": 5},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_bodies_are_refused_and_write_nothing(casino: CasinoWorld, body: Any) -> None:
    member = await casino.member()
    assert_error(await post(casino, member, body), 422, "validation_error")
    assert await stored(casino.database) == []
    assert await events(casino.database) == []


async def test_an_unknown_type_is_refused(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await post(casino, member, {"action_type": "NOT_A_TYPE"})
    assert assert_error(answer, 422, "unknown_action_type")["details"] == {
        "action_type": "NOT_A_TYPE"
    }
    assert await stored(casino.database) == []


async def test_admins_add_action_types_usable_at_once(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    code = f"QUEST_{uuid.uuid4().hex[:8].upper()}"
    assert (await post(casino, member, {"action_type": code})).status_code == 422
    added = await casino.client.post(
        f"{API}/admin/action-types",
        json={"code": code, "description": "A quest step."},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["created_by"] == str(admin.user_id)
    assert (await post(casino, member, {"action_type": code})).status_code == 201
    again = await casino.client.post(
        f"{API}/admin/action-types", json={"code": code}, headers=admin.headers
    )
    assert_error(again, 409, "action_type_exists")
    listed = await casino.client.get(f"{API}/action-types", headers=member.headers)
    codes = [each["code"] for each in listed.json()]
    assert {"LOGIN", "SLOT_SPIN", "GACHA_SPIN", code} <= set(codes)
    assert codes == sorted(codes)


@pytest.mark.parametrize("rank", [Rank.STANDARD, Rank.PREMIUM, Rank.VIP])
async def test_only_admins_add_action_types(casino: CasinoWorld, rank: Rank) -> None:
    member = await casino.member(rank)
    answer = await casino.client.post(
        f"{API}/admin/action-types", json={"code": "NEVER_ADDED"}, headers=member.headers
    )
    assert_error(answer, 403, "rank_forbidden")
    async with casino.database.unit_of_work() as session:
        assert await session.get(ActionType, "NEVER_ADDED") is None


async def test_record_action_writes_in_the_callers_transaction(casino: CasinoWorld) -> None:
    member = await casino.member()

    async def failing_use_case() -> None:
        async with casino.database.unit_of_work() as session:
            await actions.record_action(session, member.user_id, "SLOT_SPIN", {"phone": "1"})
            raise RuntimeError("the caller's use case fails")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await stored(casino.database) == []
    assert await events(casino.database) == []
    async with casino.database.unit_of_work() as session:
        written = await actions.record_action(
            session, member.user_id, "SLOT_SPIN", {"bet": 10, "phone": "1"}
        )
    [row] = await stored(casino.database)
    assert (row.id, row.context) == (written.id, {"bet": 10})
    assert len(await events(casino.database)) == 1
    with pytest.raises(UnknownActionType):
        async with casino.database.unit_of_work() as session:
            await actions.record_action(session, member.user_id, "NOPE", {})


async def test_your_recent_actions_newest_first_in_pages(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    for n in range(5):
        sent = await post(casino, member, {"action_type": "PAGE_VIEW", "context": {"n": n}})
        assert sent.status_code == 201
    await post(casino, member, {"action_type": "LOGIN"})
    await post(casino, other, {"action_type": "PAGE_VIEW"})
    first = await casino.client.get(f"{ACTIONS}/me?limit=4", headers=member.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [each["action_type"] for each in page["items"]] == ["LOGIN"] + ["PAGE_VIEW"] * 3
    assert [each["context"].get("n") for each in page["items"][1:]] == [4, 3, 2]
    rest = await casino.client.get(
        f"{ACTIONS}/me", params={"limit": 4, "cursor": page["next_cursor"]}, headers=member.headers
    )
    assert [each["context"]["n"] for each in rest.json()["items"]] == [1, 0]
    assert rest.json()["next_cursor"] is None
    views = await casino.client.get(f"{ACTIONS}/me?action_type=LOGIN", headers=member.headers)
    assert len(views.json()["items"]) == 1
    assert_error(
        await casino.client.get(f"{ACTIONS}/me?action_type=bad", headers=member.headers), 422
    )
    async with casino.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Action)) == 7
