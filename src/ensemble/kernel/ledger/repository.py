"""Ledger queries: the atomic posting statement, lookups, pages and the chain check.

No business rules here; `service.py` and `group.py` decide what the outcomes mean.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ensemble.kernel.db import new_id
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.ledger.domain import AccountOwner, PostingRequest
from ensemble.kernel.ledger.models import Account, Direction, Entry
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate

# One round trip: move the balance under the row lock and append the entry. The UPDATE is
# the only place a balance changes; its WHERE clause is the no-overdraft rule, evaluated on
# the latest committed row (READ COMMITTED re-checks it after waiting for the lock), so
# concurrent spends are serialised by the row lock and never oversell. `inserted` is false
# when the idempotency key is already taken (the caller then takes the change back).
POST = text(
    """
WITH acc AS (
    UPDATE ledger.accounts
    SET balance = balance + :delta, last_sequence = last_sequence + 1, updated_at = :at
    WHERE id = :account_id AND balance + :delta >= 0
    RETURNING balance, last_sequence
), ins AS (
    INSERT INTO ledger.entries (
        id, account_id, sequence, direction, amount, reason, reference_type, reference_id,
        description, idempotency_key, balance_before, balance_after, created_at
    )
    SELECT
        CAST(:entry_id AS uuid), CAST(:account_id AS uuid), acc.last_sequence,
        CAST(:direction AS ledger.direction), CAST(:amount AS bigint),
        CAST(:reason AS varchar), CAST(:reference_type AS varchar),
        CAST(:reference_id AS varchar), CAST(:description AS varchar),
        CAST(:idempotency_key AS varchar), acc.balance - :delta, acc.balance,
        CAST(:at AS timestamptz)
    FROM acc
    ON CONFLICT (account_id, idempotency_key) DO NOTHING
    RETURNING 1
)
SELECT acc.balance, acc.last_sequence, EXISTS (SELECT FROM ins) AS inserted FROM acc
"""
)

# `POST` for the account of an owner, found by the UPDATE itself (the unique owner index):
# no read of the account first. Plain SQL on the session's transaction (`post_by_owner`).
_POST_BY_OWNER = """
WITH acc AS (
    UPDATE ledger.accounts
    SET balance = balance + $4, last_sequence = last_sequence + 1, updated_at = $5
    WHERE owner_realm = $1 AND owner_id = $2 AND currency = $3 AND balance + $4 >= 0
    RETURNING id, balance, last_sequence
), ins AS (
    INSERT INTO ledger.entries (
        id, account_id, sequence, direction, amount, reason, reference_type, reference_id,
        description, idempotency_key, balance_before, balance_after, created_at
    )
    SELECT
        $6::uuid, acc.id, acc.last_sequence, $7::ledger.direction, $8::bigint,
        $9::varchar, $10::varchar, $11::varchar, $12::varchar, $13::varchar,
        acc.balance - $4, acc.balance, $5::timestamptz
    FROM acc
    ON CONFLICT (account_id, idempotency_key) DO NOTHING
    RETURNING 1
)
SELECT acc.id, acc.balance, acc.last_sequence, EXISTS (SELECT FROM ins) AS inserted FROM acc
"""

# Taking back a posting whose key was taken, while the row lock is still ours.
UNDO = text(
    "UPDATE ledger.accounts SET balance = balance - :delta, last_sequence = last_sequence - 1"
    " WHERE id = :account_id"
)


@dataclass(frozen=True)
class Applied:
    """The account after a balance change: its balance and last entry sequence."""

    balance: int
    last_sequence: int


# Accounts


async def account_by_owner(
    session: AsyncSession, realm: str, owner_id: uuid.UUID, currency: str
) -> Account | None:
    stmt = (
        select(Account)
        .where(
            Account.owner_realm == realm,
            Account.owner_id == owner_id,
            Account.currency == currency,
        )
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_account(
    session: AsyncSession, realm: str, owner_id: uuid.UUID, currency: str, at: datetime
) -> Account | None:
    """The new account, or None when (realm, owner, currency) already has one."""
    stmt = (
        insert(Account)
        .values(
            id=new_id(),
            owner_realm=realm,
            owner_id=owner_id,
            currency=currency,
            balance=0,
            last_sequence=0,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["owner_realm", "owner_id", "currency"])
        .returning(Account)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    stmt = select(Account).where(Account.id == account_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def balance_of(session: AsyncSession, account_id: uuid.UUID) -> int | None:
    stmt = select(Account.balance).where(Account.id == account_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def sync_account(
    session: AsyncSession, account_id: uuid.UUID, applied: Applied, at: datetime
) -> None:
    """Refresh the session's copy of the account (if it holds one) after a SQL-side change."""
    held = session.identity_map.get(identity_key(Account, account_id))
    if isinstance(held, Account):
        set_committed_value(held, "balance", applied.balance)
        set_committed_value(held, "last_sequence", applied.last_sequence)
        set_committed_value(held, "updated_at", at)


# Postings, one at a time


async def post(
    session: AsyncSession, request: PostingRequest, entry_id: uuid.UUID, at: datetime
) -> tuple[Applied, bool] | None:
    """Apply one posting; None when the account is missing or the balance too low.

    Otherwise the account after the change and whether the entry was inserted (False: the
    idempotency key is taken and the balance change must be undone).
    """
    params = {
        "account_id": request.account_id,
        "delta": request.delta,
        "at": at,
        "entry_id": entry_id,
        "direction": request.direction.value,
        "amount": request.amount,
        "reason": request.reason,
        "reference_type": request.reference_type,
        "reference_id": request.reference_id,
        "description": request.description,
        "idempotency_key": request.idempotency_key,
    }
    row = (await session.execute(POST, params)).one_or_none()
    if row is None:
        return None
    return Applied(row.balance, row.last_sequence), bool(row.inserted)


async def post_by_owner(
    session: AsyncSession,
    owner: AccountOwner,
    request: PostingRequest,
    entry_id: uuid.UUID,
    at: datetime,
) -> tuple[uuid.UUID, Applied, bool] | None:
    """`post` to the account of `owner` (`request.account_id` is not read): None when the
    owner has no account or its balance is too low, else the account's id, the account after
    the change and whether the entry was inserted."""
    raw = await transaction_connection(session)
    row = await raw.fetchrow(
        _POST_BY_OWNER, owner.realm, owner.owner_id, owner.currency, request.delta, at,
        entry_id, request.direction.value, request.amount, request.reason,
        request.reference_type, request.reference_id, request.description,
        request.idempotency_key,
    )  # fmt: skip
    if row is None:
        return None
    return row["id"], Applied(row["balance"], row["last_sequence"]), bool(row["inserted"])


async def undo(session: AsyncSession, account_id: uuid.UUID, delta: int) -> None:
    await session.execute(UNDO, {"account_id": account_id, "delta": delta})


def adopt(session: AsyncSession, entry: Entry) -> None:
    """Make an entry written by SQL part of the session, as if it had been loaded."""
    make_transient_to_detached(entry)
    session.add(entry)


async def entry_by_key(
    session: AsyncSession, account_id: uuid.UUID, idempotency_key: str
) -> Entry | None:
    stmt = select(Entry).where(
        Entry.account_id == account_id, Entry.idempotency_key == idempotency_key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# Postings in batches (group commit)


async def entries_by_keys(
    session: AsyncSession, account_id: uuid.UUID, keys: Sequence[str]
) -> dict[str, Entry]:
    stmt = select(Entry).where(Entry.account_id == account_id, Entry.idempotency_key.in_(keys))
    found = (await session.execute(stmt)).scalars()
    return {entry.idempotency_key: entry for entry in found if entry.idempotency_key}


async def apply_net(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    net: int,
    count: int,
    lowest: int,
    at: datetime,
) -> Applied | None:
    """Move the balance by `net` for `count` entries if it never dips below zero on the way
    (`lowest` is the lowest running delta); None when it would, or the account is missing."""
    stmt = (
        update(Account)
        .where(Account.id == account_id, Account.balance + lowest >= 0)
        .values(
            balance=Account.balance + net,
            last_sequence=Account.last_sequence + count,
            updated_at=at,
        )
        .returning(Account.balance, Account.last_sequence)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else Applied(row.balance, row.last_sequence)


async def lock_account(session: AsyncSession, account_id: uuid.UUID) -> Applied | None:
    stmt = (
        select(Account.balance, Account.last_sequence)
        .where(Account.id == account_id)
        .with_for_update()
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else Applied(row.balance, row.last_sequence)


async def insert_entries(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One multi-row INSERT (SQLAlchemy's insertmanyvalues) for a whole batch."""
    await session.execute(insert(Entry), list(rows))


# Reading


async def entries_page(
    session: AsyncSession, account_id: uuid.UUID, request: PageRequest
) -> Page[Entry]:
    """Newest first, keyed on the sequence."""
    stmt = select(Entry).where(Entry.account_id == account_id)
    return await paginate(
        session, stmt, request, keys=(Entry.sequence,), item=as_fetched, descending=True
    )


@dataclass(frozen=True)
class ChainLink:
    """An entry next to what its predecessor says it should be."""

    sequence: int
    previous_sequence: int
    direction: Direction
    amount: int
    balance_before: int
    balance_after: int
    previous_after: int


@dataclass(frozen=True)
class ChainEnd:
    entries: int
    last_sequence: int
    last_after: int


def _previous(column: InstrumentedAttribute[int]) -> ColumnElement[int]:
    """The column's value in the entry before (by sequence), 0 for the first entry."""
    return func.coalesce(func.lag(column).over(order_by=Entry.sequence), 0)


async def broken_links(session: AsyncSession, account_id: uuid.UUID, limit: int) -> list[ChainLink]:
    """Entries that do not follow their predecessor (gap, before ≠ previous after, or a
    move other than ±amount), found in SQL so a long chain is not loaded."""
    chain = (
        select(
            Entry.sequence,
            _previous(Entry.sequence).label("previous_sequence"),
            Entry.direction,
            Entry.amount,
            Entry.balance_before,
            Entry.balance_after,
            _previous(Entry.balance_after).label("previous_after"),
        )
        .where(Entry.account_id == account_id)
        .subquery()
    )
    moved = chain.c.balance_after - chain.c.balance_before
    stmt = (
        select(chain)
        .where(
            (chain.c.sequence != chain.c.previous_sequence + 1)
            | (chain.c.balance_before != chain.c.previous_after)
            | ((chain.c.direction == Direction.EARN) & (moved != chain.c.amount))
            | ((chain.c.direction == Direction.SPEND) & (moved != -chain.c.amount))
        )
        .order_by(chain.c.sequence)
        .limit(limit)
    )
    return [ChainLink(**row._mapping) for row in await session.execute(stmt)]


async def chain_end(session: AsyncSession, account_id: uuid.UUID) -> ChainEnd:
    last = (
        select(Entry.balance_after)
        .where(Entry.account_id == account_id)
        .order_by(Entry.sequence.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = select(
        func.count(), func.coalesce(func.max(Entry.sequence), 0), func.coalesce(last, 0)
    ).where(Entry.account_id == account_id)
    count, last_sequence, last_after = (await session.execute(stmt)).one()
    return ChainEnd(count, last_sequence, last_after)
