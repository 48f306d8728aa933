"""The kernel ledger: exact balances under concurrency, idempotency keys, append-only chains."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ensemble.kernel.db import Database, new_id
from ensemble.kernel.errors import AppError, Conflict, InvalidInput
from ensemble.kernel.ledger import (
    Account,
    AccountNotFound,
    AccountOwner,
    Direction,
    Entry,
    GroupCommitter,
    IdempotencyKeyReused,
    InsufficientBalance,
    PostingRequest,
    earn,
    entries_page,
    find_account,
    get_account,
    open_account,
    post,
    spend,
    spend_by_owner,
    verify_chain,
)
from ensemble.kernel.ledger.domain import accepted_in_order, lowest_running_delta
from ensemble.kernel.pagination import PageRequest
from tests.polling import eventually

REALM = "test"


async def _open(
    database: Database, currency: str = "POINT", owner: uuid.UUID | None = None
) -> uuid.UUID:
    async with database.unit_of_work() as session:
        account = await open_account(
            session, realm=REALM, owner_id=owner or new_id(), currency=currency
        )
        return account.id


async def _earn(database: Database, account_id: uuid.UUID, amount: int, **kwargs: str) -> Entry:
    async with database.unit_of_work() as session:
        return await earn(session, account_id=account_id, amount=amount, reason="TEST", **kwargs)


async def _spend(database: Database, account_id: uuid.UUID, amount: int, **kwargs: str) -> Entry:
    async with database.unit_of_work() as session:
        return await spend(session, account_id=account_id, amount=amount, reason="TEST", **kwargs)


async def _spend_by_owner(
    database: Database, owner: uuid.UUID, amount: int, **kwargs: str
) -> Entry:
    async with database.unit_of_work() as session:
        return await spend_by_owner(
            session, AccountOwner(REALM, owner, "POINT"), amount=amount, reason="TEST", **kwargs
        )


async def _entries(database: Database, account_id: uuid.UUID) -> list[Entry]:
    async with database.unit_of_work() as session:
        stmt = select(Entry).where(Entry.account_id == account_id).order_by(Entry.sequence)
        return list((await session.execute(stmt)).scalars())


async def _balance(database: Database, account_id: uuid.UUID) -> int:
    async with database.unit_of_work() as session:
        return (await get_account(session, account_id)).balance


async def _problems(database: Database, account_id: uuid.UUID) -> list[str]:
    async with database.unit_of_work() as session:
        return await verify_chain(session, account_id)


def _assert_chain(entries: list[Entry], final_balance: int) -> None:
    """Checked here independently of `verify_chain`: 1..n, linked, moved by ±amount."""
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    previous_after = 0
    for entry in entries:
        sign = 1 if entry.direction == Direction.EARN else -1
        assert entry.amount > 0
        assert entry.balance_after - entry.balance_before == sign * entry.amount
        assert entry.balance_before == previous_after
        assert entry.balance_after >= 0
        previous_after = entry.balance_after
    assert previous_after == final_balance


async def _settle(calls: list[Awaitable[Entry]]) -> tuple[list[Entry], list[BaseException]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    done = [r for r in results if isinstance(r, Entry)]
    failed = [r for r in results if isinstance(r, BaseException)]
    return done, failed


# Accounts


async def test_open_account_is_get_or_create_even_when_racing(database: Database) -> None:
    owner = new_id()
    ids = await asyncio.gather(*(_open(database, owner=owner) for _ in range(30)))

    assert len(set(ids)) == 1
    async with database.unit_of_work() as session:
        count = await session.scalar(select(func.count()).select_from(Account))
        account = await get_account(session, ids[0])
    assert count == 1
    assert (account.owner_realm, account.owner_id, account.currency) == (REALM, owner, "POINT")
    assert (account.balance, account.last_sequence) == (0, 0)


async def test_open_account_waits_for_a_concurrent_creator(database: Database) -> None:
    """The second creator's INSERT waits for the first one's commit, then reads its row."""
    owner = new_id()
    async with database.sessionmaker() as first:
        created = await open_account(first, realm=REALM, owner_id=owner, currency="POINT")
        second = asyncio.create_task(_open(database, owner=owner))
        await eventually(lambda: _waiting_for_a_lock(database), lambda n: n >= 1)
        await first.commit()

    assert await second == created.id


async def test_open_account_finds_the_existing_one(database: Database) -> None:
    owner = new_id()
    first = await _open(database, owner=owner)
    assert await _open(database, owner=owner) == first
    async with database.unit_of_work() as session:
        found = await find_account(session, realm=REALM, owner_id=owner, currency="POINT")
        missing = await find_account(session, realm=REALM, owner_id=owner, currency="GEM")
        with pytest.raises(AccountNotFound):
            await get_account(session, new_id())
    assert found is not None
    assert found.id == first
    assert missing is None


async def test_accounts_are_per_realm_owner_and_currency(database: Database) -> None:
    owner = new_id()
    coins = await _open(database, "COIN", owner)
    gems = await _open(database, "GEM", owner)
    async with database.unit_of_work() as session:
        other_realm = (
            await open_account(session, realm="other", owner_id=owner, currency="COIN")
        ).id
    assert len({coins, gems, other_realm}) == 3

    await _earn(database, coins, 100)

    with pytest.raises(InsufficientBalance):
        await _spend(database, gems, 1)
    with pytest.raises(InsufficientBalance):
        await _spend(database, other_realm, 1)
    assert (await _balance(database, coins), await _balance(database, gems)) == (100, 0)
    assert await _entries(database, gems) == []


async def test_unknown_account_is_not_found(database: Database) -> None:
    with pytest.raises(AccountNotFound) as caught:
        await _spend(database, new_id(), 1)
    assert caught.value.status_code == 404
    with pytest.raises(AccountNotFound):
        await _earn(database, new_id(), 1)


# Postings


async def test_earn_and_spend_record_a_chain(database: Database) -> None:
    account_id = await _open(database)
    async with database.unit_of_work() as session:
        account = await get_account(session, account_id)
        first = await earn(
            session,
            account_id=account_id,
            amount=50,
            reason="SIGN_UP",
            reference_type="user",
            reference_id="u-1",
            description="welcome bonus",
        )
        second = await spend(
            session, account_id=account_id, amount=20, reason="TICKET", reference_id="t-1"
        )
        # The session's copy of the account follows the SQL-side change.
        assert (account.balance, account.last_sequence) == (30, 2)

    assert (first.sequence, first.direction, first.amount) == (1, Direction.EARN, 50)
    assert (first.balance_before, first.balance_after) == (0, 50)
    assert (first.reason, first.reference_type, first.reference_id) == ("SIGN_UP", "user", "u-1")
    assert first.description == "welcome bonus"
    assert (second.sequence, second.direction, second.amount) == (2, Direction.SPEND, 20)
    assert (second.balance_before, second.balance_after) == (50, 30)

    stored = await _entries(database, account_id)
    assert [(e.id, e.balance_after) for e in stored] == [(first.id, 50), (second.id, 30)]
    _assert_chain(stored, 30)
    assert await _balance(database, account_id) == 30
    assert await _problems(database, account_id) == []


async def test_spend_beyond_the_balance_is_refused_and_writes_nothing(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 10)

    with pytest.raises(InsufficientBalance) as caught:
        await _spend(database, account_id, 11)

    error = caught.value
    assert isinstance(error, AppError)
    assert (error.status_code, error.code) == (409, "insufficient_balance")
    assert error.details == {"account_id": str(account_id), "balance": 10, "amount": 11}
    assert await _balance(database, account_id) == 10
    assert len(await _entries(database, account_id)) == 1
    exact = await _spend(database, account_id, 10)
    assert exact.balance_after == 0
    with pytest.raises(InsufficientBalance):
        await _spend(database, account_id, 1)


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, 2**63])
async def test_amounts_must_be_positive_integers(database: Database, amount: object) -> None:
    account_id = await _open(database)
    with pytest.raises(InvalidInput) as caught:
        await _earn(database, account_id, amount)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_amount"
    assert await _entries(database, account_id) == []


async def test_a_posting_needs_a_reason_and_a_real_key(database: Database) -> None:
    account_id = await _open(database)
    with pytest.raises(InvalidInput, match="reason"):
        async with database.unit_of_work() as session:
            await earn(session, account_id=account_id, amount=1, reason="")
    with pytest.raises(InvalidInput, match="idempotency key"):
        await _earn(database, account_id, 1, idempotency_key="")


async def test_negative_balances_are_impossible_in_the_database(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 5)

    with pytest.raises(IntegrityError, match="ck_accounts_balance_not_negative"):
        async with database.unit_of_work() as session:
            await session.execute(
                text("UPDATE ledger.accounts SET balance = -1 WHERE id = :id"), {"id": account_id}
            )
    with pytest.raises(IntegrityError, match="ck_entries_balance"):
        async with database.unit_of_work() as session:
            await session.execute(
                text(
                    "INSERT INTO ledger.entries (id, account_id, sequence, direction, amount,"
                    " reason, balance_before, balance_after, created_at)"
                    " VALUES (:id, :account, 2, 'SPEND', 10, 'X', 5, -5, now())"
                ),
                {"id": new_id(), "account": account_id},
            )
    assert await _balance(database, account_id) == 5


async def test_entries_are_append_only(database: Database) -> None:
    account_id = await _open(database)
    entry = await _earn(database, account_id, 5)

    for statement in (
        "UPDATE ledger.entries SET amount = 500, balance_after = 500 WHERE id = :id",
        "DELETE FROM ledger.entries WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only") as caught:
            async with database.unit_of_work() as session:
                await session.execute(text(statement), {"id": entry.id})
        assert getattr(caught.value.orig, "sqlstate", None) == "23001"  # restrict_violation

    [kept] = await _entries(database, account_id)
    assert (kept.amount, kept.balance_after) == (5, 5)


async def test_the_caller_owns_the_transaction(database: Database) -> None:
    account_id = await _open(database)

    async def earn_then_fail() -> None:
        async with database.unit_of_work() as session:
            await earn(session, account_id=account_id, amount=5, reason="TEST")
            raise RuntimeError("the caller's own work failed")

    with pytest.raises(RuntimeError):
        await earn_then_fail()

    assert await _entries(database, account_id) == []
    assert await _balance(database, account_id) == 0


# Idempotency


async def test_a_resent_key_returns_the_original_entry(database: Database) -> None:
    account_id = await _open(database)
    first = await _earn(database, account_id, 40, idempotency_key="signup")
    again = await _earn(database, account_id, 40, idempotency_key="signup")
    spent = await _spend(database, account_id, 30, idempotency_key="ticket-1")
    # The balance (10) no longer covers the spend, but a resend is still the original.
    spent_again = await _spend(database, account_id, 30, idempotency_key="ticket-1")

    assert again.id == first.id
    assert (again.sequence, again.balance_after) == (1, 40)
    assert spent_again.id == spent.id
    assert await _balance(database, account_id) == 10
    assert len(await _entries(database, account_id)) == 2
    assert await _problems(database, account_id) == []


async def test_post_says_whether_it_replayed(database: Database) -> None:
    account_id = await _open(database)
    request = PostingRequest(account_id, Direction.EARN, 7, "TEST", idempotency_key="k")
    async with database.unit_of_work() as session:
        fresh = await post(session, request)
        # The same key twice in one transaction: the second sees the first's entry.
        twin = await post(session, request)
    assert (fresh.replayed, twin.replayed) == (False, True)
    assert twin.entry.id == fresh.entry.id
    assert await _balance(database, account_id) == 7
    assert await _problems(database, account_id) == []


async def test_a_reused_key_with_other_content_is_a_conflict(database: Database) -> None:
    account_id = await _open(database)
    original = await _earn(database, account_id, 40, idempotency_key="k")

    attempts: list[Callable[[], Awaitable[Entry]]] = [
        lambda: _earn(database, account_id, 41, idempotency_key="k"),
        lambda: _spend(database, account_id, 40, idempotency_key="k"),
        lambda: _spend(database, account_id, 400, idempotency_key="k"),  # short of funds, too
        lambda: _earn(database, account_id, 40, idempotency_key="k", reference_id="other"),
    ]
    for attempt in attempts:
        with pytest.raises(IdempotencyKeyReused) as caught:
            await attempt()
        assert isinstance(caught.value, Conflict)
        assert (caught.value.status_code, caught.value.code) == (409, "idempotency_key_reused")
        assert caught.value.details["entry_id"] == str(original.id)

    assert await _balance(database, account_id) == 40
    assert len(await _entries(database, account_id)) == 1


async def test_the_same_key_sent_concurrently_has_one_effect(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 100)

    entries = await asyncio.gather(
        *(_spend(database, account_id, 30, idempotency_key="once") for _ in range(25))
    )

    assert len({entry.id for entry in entries}) == 1
    assert await _balance(database, account_id) == 70
    stored = await _entries(database, account_id)
    assert len(stored) == 2
    _assert_chain(stored, 70)
    assert await _problems(database, account_id) == []


# Concurrency


async def test_hundred_concurrent_spends_with_funds_for_three(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 3)

    done, failed = await _settle([_spend(database, account_id, 1) for _ in range(100)])

    assert len(done) == 3
    assert len(failed) == 97
    assert all(isinstance(error, InsufficientBalance) for error in failed)
    assert sorted(entry.balance_after for entry in done) == [0, 1, 2]
    assert await _balance(database, account_id) == 0
    stored = await _entries(database, account_id)
    assert len(stored) == 4
    _assert_chain(stored, 0)
    assert await _problems(database, account_id) == []


async def _random_postings(database: Database, account_id: uuid.UUID, seed: int) -> int:
    """Eight random earns and spends, each in its own transaction; the net of those that
    were recorded."""
    rng = random.Random(seed)
    net = 0
    for _ in range(8):
        amount = rng.randint(1, 9)
        try:
            if rng.random() < 0.45:
                await _earn(database, account_id, amount)
                net += amount
            else:
                await _spend(database, account_id, amount)
                net -= amount
        except InsufficientBalance:
            pass
    return net


async def test_concurrent_earns_and_spends_keep_the_sum_and_the_chain(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 20)

    nets = await asyncio.gather(*(_random_postings(database, account_id, s) for s in range(40)))

    balance = await _balance(database, account_id)
    assert balance == 20 + sum(nets)
    stored = await _entries(database, account_id)
    assert len(stored) > 40
    assert any(entry.direction == Direction.SPEND for entry in stored)
    _assert_chain(stored, balance)
    assert await _problems(database, account_id) == []


# Reading


async def test_entries_page_newest_first_with_cursors(database: Database) -> None:
    account_id = await _open(database)
    for amount in range(1, 8):
        await _earn(database, account_id, amount)

    pages: list[list[int]] = []
    cursor: str | None = None
    async with database.unit_of_work() as session:
        while True:
            request = PageRequest(cursor=cursor, limit=3)
            page = await entries_page(session, account_id, request)
            pages.append([entry.sequence for entry in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break

    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


async def test_verify_chain_reports_what_is_broken(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 10)
    await _spend(database, account_id, 4)

    async with database.sessionmaker() as session, session.begin():
        # Inserts and the account row are not guarded by the append-only trigger: forge a
        # gap with a wrong link, and a balance that no entry explains. Rolled back below.
        await session.execute(
            text(
                "INSERT INTO ledger.entries (id, account_id, sequence, direction, amount,"
                " reason, balance_before, balance_after, created_at)"
                " VALUES (:id, :account, 4, 'EARN', 3, 'FORGED', 100, 103, now())"
            ),
            {"id": new_id(), "account": account_id},
        )
        await session.execute(
            text("UPDATE ledger.accounts SET balance = 99 WHERE id = :id"), {"id": account_id}
        )
        problems = await verify_chain(session, account_id)
        await session.rollback()

    assert problems == [
        "sequence 4 follows 2",
        "sequence 4: balance_before 100 != previous balance_after 6",
        "account balance 99 != last balance_after 103",
        "account last_sequence 2 != last entry 4",
        "3 entries for sequences 1..4",
    ]
    assert await _problems(database, account_id) == []


# Group commit


async def test_group_commit_hundred_spends_with_funds_for_three(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 3)
    committer = GroupCommitter(database)

    done, failed = await _settle(
        [committer.spend(account_id=account_id, amount=1, reason="TEST") for _ in range(100)]
    )

    assert len(done) == 3
    assert len(failed) == 97
    assert all(isinstance(error, InsufficientBalance) for error in failed)
    assert await _balance(database, account_id) == 0
    with pytest.raises(InsufficientBalance):  # a round where nothing is allowed
        await committer.spend(account_id=account_id, amount=1, reason="TEST")
    stored = await _entries(database, account_id)
    assert {entry.id for entry in done} == {entry.id for entry in stored[1:]}
    _assert_chain(stored, 0)
    assert await _problems(database, account_id) == []


async def test_group_commit_coalesces_and_keeps_each_verdict(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 10)
    committer = GroupCommitter(database)
    rng = random.Random(7)
    plan = [
        (Direction.EARN if rng.random() < 0.4 else Direction.SPEND, rng.randint(1, 6))
        for _ in range(60)
    ]

    results = await asyncio.gather(
        *(
            committer.post(PostingRequest(account_id, direction, amount, "TEST"))
            for direction, amount in plan
        ),
        return_exceptions=True,
    )
    await committer.wait_idle()

    recorded = [r for r in results if isinstance(r, Entry)]
    assert all(isinstance(r, Entry | InsufficientBalance) for r in results)
    assert any(isinstance(r, InsufficientBalance) for r in results)
    net = sum(e.amount if e.direction == Direction.EARN else -e.amount for e in recorded)
    balance = await _balance(database, account_id)
    assert balance == 10 + net
    stored = await _entries(database, account_id)
    assert {e.id: e.balance_after for e in stored[1:]} == {e.id: e.balance_after for e in recorded}
    # Fewer transactions than postings: entries of one round share their timestamp.
    assert len({e.created_at for e in stored[1:]}) < len(recorded)
    _assert_chain(stored, balance)
    assert await _problems(database, account_id) == []


async def test_group_commit_idempotency(database: Database) -> None:
    account_id = await _open(database)
    committer = GroupCommitter(database)
    await committer.earn(account_id=account_id, amount=50, reason="TEST")
    outside = await _spend(database, account_id, 5, idempotency_key="outside")

    twins = await asyncio.gather(
        *(
            committer.spend(account_id=account_id, amount=10, reason="TEST", idempotency_key="a")
            for _ in range(5)
        ),
        committer.spend(account_id=account_id, amount=5, reason="TEST", idempotency_key="outside"),
    )
    with pytest.raises(IdempotencyKeyReused):
        await committer.spend(account_id=account_id, amount=11, reason="TEST", idempotency_key="a")
    with pytest.raises(AccountNotFound):
        await committer.spend(account_id=new_id(), amount=1, reason="TEST")

    assert len({entry.id for entry in twins[:5]}) == 1
    assert twins[5].id == outside.id
    assert await _balance(database, account_id) == 35
    assert len(await _entries(database, account_id)) == 3
    assert await _problems(database, account_id) == []


async def _waiting_for_a_lock(database: Database) -> int:
    async with database.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return int(waiting or 0)


async def test_group_commit_retries_when_an_outside_writer_takes_its_key(
    database: Database,
) -> None:
    """The committer looks keys up before it waits for the row lock; a writer outside it
    that records the same key meanwhile makes the round's INSERT fail, and the retried
    round returns that writer's entry."""
    account_id = await _open(database)
    await _earn(database, account_id, 50)
    committer = GroupCommitter(database)

    async with database.sessionmaker() as outside:
        theirs = await spend(
            outside, account_id=account_id, amount=5, reason="TEST", idempotency_key="k"
        )
        ours = asyncio.create_task(
            committer.spend(account_id=account_id, amount=5, reason="TEST", idempotency_key="k")
        )
        await eventually(lambda: _waiting_for_a_lock(database), lambda n: n >= 1)
        await outside.commit()

    assert (await ours).id == theirs.id
    assert await _balance(database, account_id) == 45
    assert await _problems(database, account_id) == []


async def test_group_commit_caller_cancelled_before_its_round_posts_nothing(
    database: Database,
) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 50)
    committer = GroupCommitter(database)

    async with database.sessionmaker() as blocker:
        # Hold the row lock so the first round waits while the second caller gives up.
        await blocker.execute(
            text("SELECT 1 FROM ledger.accounts WHERE id = :id FOR UPDATE"), {"id": account_id}
        )
        first = asyncio.create_task(committer.spend(account_id=account_id, amount=1, reason="A"))
        await eventually(lambda: _waiting_for_a_lock(database), lambda n: n >= 1)
        second = asyncio.create_task(committer.spend(account_id=account_id, amount=2, reason="B"))
        await asyncio.sleep(0)  # let it queue behind the running round
        second.cancel()
        await blocker.rollback()

    assert (await first).reason == "A"
    with pytest.raises(asyncio.CancelledError):
        await second
    await committer.wait_idle()
    assert [e.reason for e in await _entries(database, account_id)] == ["TEST", "A"]
    assert await _balance(database, account_id) == 49


async def test_group_commit_round_failure_reaches_every_caller(database: Database) -> None:
    account_id = await _open(database)
    await _earn(database, account_id, 1)
    committer = GroupCommitter(database)

    with pytest.raises(DBAPIError, match="out of range"):  # the balance would pass bigint
        await committer.earn(account_id=account_id, amount=2**63 - 1, reason="TEST")
    assert await _balance(database, account_id) == 1


# Pure rules


def test_lowest_running_delta_and_verdicts_in_arrival_order() -> None:
    assert lowest_running_delta([]) == 0
    assert lowest_running_delta([5, -3]) == 0
    assert lowest_running_delta([-2, 5, -9]) == -6
    assert accepted_in_order(3, [-1, -5, 4, -5, -1, -1]) == [True, False, True, True, True, False]


# Spending by owner (the account found by the spend itself)


async def test_spend_by_owner_is_spend_in_one_statement(database: Database) -> None:
    owner = new_id()
    account_id = await _open(database, owner=owner)
    await _earn(database, account_id, 50)

    spent = await _spend_by_owner(database, owner, 30, idempotency_key="t", reference_id="r")
    again = await _spend_by_owner(database, owner, 30, idempotency_key="t", reference_id="r")
    with pytest.raises(InsufficientBalance) as short:
        await _spend_by_owner(database, owner, 21)
    with pytest.raises(IdempotencyKeyReused):
        await _spend_by_owner(database, owner, 5, idempotency_key="t")

    assert (spent.account_id, spent.sequence, spent.balance_after) == (account_id, 2, 20)
    assert again.id == spent.id
    assert short.value.details == {"account_id": str(account_id), "balance": 20, "amount": 21}
    assert await _balance(database, account_id) == 20
    assert [e.id for e in await _entries(database, account_id)][1:] == [spent.id]
    assert await _problems(database, account_id) == []


async def test_spend_by_owner_without_an_account_opens_one_and_is_short(
    database: Database,
) -> None:
    owner = new_id()
    async with database.unit_of_work() as session:
        with pytest.raises(InsufficientBalance):
            await spend_by_owner(
                session, AccountOwner(REALM, owner, "POINT"), amount=1, reason="TEST"
            )
        account = await find_account(session, realm=REALM, owner_id=owner, currency="POINT")
        assert account is not None
        assert account.balance == 0


async def test_hundred_concurrent_spends_by_owner_with_funds_for_three(
    database: Database,
) -> None:
    owner = new_id()
    account_id = await _open(database, owner=owner)
    await _earn(database, account_id, 3)

    done, failed = await _settle([_spend_by_owner(database, owner, 1) for _ in range(100)])

    assert (len(done), len(failed)) == (3, 97)
    assert all(isinstance(error, InsufficientBalance) for error in failed)
    assert await _balance(database, account_id) == 0
    _assert_chain(await _entries(database, account_id), 0)
    assert await _problems(database, account_id) == []
