"""Ledger use cases: open an account, earn, spend, read the history, verify the chain.

Functions take the session first and never commit: the caller owns the transaction, so a
posting commits or rolls back together with whatever the caller did around it (a ticket, a
diary, an outbox event). They need READ COMMITTED (the default isolation level).

Idempotency: a posting with an `idempotency_key` already recorded on the account returns
the ORIGINAL entry and changes nothing; the same key with other content (direction,
amount, reason, reference) raises `IdempotencyKeyReused`. Only recorded postings hold
their key: a refused spend may be retried under the same key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.ledger import repository
from ensemble.kernel.ledger.domain import (
    AccountOwner,
    PostingDetails,
    PostingFields,
    PostingRequest,
    replayed,
)
from ensemble.kernel.ledger.errors import AccountNotFound, InsufficientBalance
from ensemble.kernel.ledger.models import Account, Direction, Entry
from ensemble.kernel.pagination import Page, PageRequest


@dataclass(frozen=True)
class Posting:
    """The entry of a posting, and whether it was recorded earlier under the same key (then
    this call changed nothing, and the caller should not repeat its own side effects)."""

    entry: Entry
    replayed: bool


# Accounts


async def open_account(
    session: AsyncSession, *, realm: str, owner_id: uuid.UUID, currency: str
) -> Account:
    """The account of (realm, owner, currency), created empty the first time.

    Race-safe: two first calls at once both get the one account (INSERT … ON CONFLICT DO
    NOTHING waits for the other inserter, then the re-read sees its row).
    """
    found = await repository.account_by_owner(session, realm, owner_id, currency)
    if found is not None:
        return found
    created = await repository.insert_account(session, realm, owner_id, currency, utcnow())
    if created is not None:
        return created
    again = await repository.account_by_owner(session, realm, owner_id, currency)
    assert again is not None, "ON CONFLICT DO NOTHING skipped a row that is not there"
    return again


async def find_account(
    session: AsyncSession, *, realm: str, owner_id: uuid.UUID, currency: str
) -> Account | None:
    return await repository.account_by_owner(session, realm, owner_id, currency)


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    found = await repository.account(session, account_id)
    if found is None:
        raise AccountNotFound()
    return found


# Postings


async def earn(session: AsyncSession, **fields: Unpack[PostingFields]) -> Entry:
    """Add `amount` to the balance; the new entry (or the original one, for a re-sent key)."""
    return (await post(session, PostingRequest(direction=Direction.EARN, **fields))).entry


async def spend(session: AsyncSession, **fields: Unpack[PostingFields]) -> Entry:
    """Take `amount` from the balance, or raise `InsufficientBalance` and write nothing."""
    return (await post(session, PostingRequest(direction=Direction.SPEND, **fields))).entry


async def post(session: AsyncSession, request: PostingRequest) -> Posting:
    """Record one posting in one statement (see `repository.POST`), exact under concurrency."""
    request.validate()
    entry_id, at = new_id(), utcnow()
    outcome = await repository.post(session, request, entry_id, at)
    if outcome is None:
        return await _refused(session, request)
    applied, inserted = outcome
    return await _recorded(session, request, applied, inserted, entry_id, at)


async def spend_by_owner(
    session: AsyncSession, owner: AccountOwner, **details: Unpack[PostingDetails]
) -> Entry:
    """`spend` from the account of `owner` (opened empty if it has none, as `open_account`
    does), without reading the account first: the hot path of a spend is one statement."""
    return (await post_by_owner(session, owner, Direction.SPEND, details)).entry


async def post_by_owner(
    session: AsyncSession, owner: AccountOwner, direction: Direction, details: PostingDetails
) -> Posting:
    """`post` to the account of `owner`, found by the posting statement itself.

    Only a posting that applies takes this path to the end; anything else (no account yet,
    too low a balance, a replayed key) goes the way `post` goes, so the outcomes, errors and
    replays are `post`'s own.
    """
    # The account's id comes back from the statement; until then the request names none.
    request = PostingRequest(account_id=_NOT_YET_KNOWN, direction=direction, **details)
    request.validate()
    entry_id, at = new_id(), utcnow()
    outcome = await repository.post_by_owner(session, owner, request, entry_id, at)
    if outcome is None:
        account = await open_account(
            session, realm=owner.realm, owner_id=owner.owner_id, currency=owner.currency
        )
        return await post(session, replace(request, account_id=account.id))
    account_id, applied, inserted = outcome
    request = replace(request, account_id=account_id)
    return await _recorded(session, request, applied, inserted, entry_id, at)


_NOT_YET_KNOWN = uuid.UUID(int=0)


async def _recorded(
    session: AsyncSession,
    request: PostingRequest,
    applied: repository.Applied,
    inserted: bool,
    entry_id: uuid.UUID,
    at: datetime,
) -> Posting:
    """The posting the statement applied: its new entry, or the original one when the key
    was taken (`inserted` false; the balance change is then taken back)."""
    if not inserted:
        # The key was recorded (by a concurrent twin or earlier in this transaction): we
        # still hold the row lock, so taking our change back restores the exact balance.
        await repository.undo(session, request.account_id, request.delta)
        return await _replay(session, request)
    repository.sync_account(session, request.account_id, applied, at)
    entry = request.entry(
        entry_id,
        sequence=applied.last_sequence,
        balance_before=applied.balance - request.delta,
        at=at,
    )
    repository.adopt(session, entry)
    return Posting(entry, replayed=False)


async def _replay(session: AsyncSession, request: PostingRequest) -> Posting:
    assert request.idempotency_key is not None
    original = await repository.entry_by_key(session, request.account_id, request.idempotency_key)
    assert original is not None, "ON CONFLICT DO NOTHING skipped an entry that is not there"
    return Posting(replayed(request, original), replayed=True)


async def _refused(session: AsyncSession, request: PostingRequest) -> Posting:
    """Why the UPDATE matched no row: a replay of a recorded posting, a missing account, or
    too low a balance (checked in that order; each statement sees the latest commits)."""
    if request.idempotency_key is not None:
        original = await repository.entry_by_key(
            session, request.account_id, request.idempotency_key
        )
        if original is not None:
            return Posting(replayed(request, original), replayed=True)
    balance = await repository.balance_of(session, request.account_id)
    if balance is None:
        raise AccountNotFound(details={"account_id": str(request.account_id)})
    raise InsufficientBalance(
        details={
            "account_id": str(request.account_id),
            "balance": balance,
            "amount": request.amount,
        }
    )


# Reading


async def entries_page(
    session: AsyncSession, account_id: uuid.UUID, page: PageRequest
) -> Page[Entry]:
    """One page of the account's entries, newest first."""
    return await repository.entries_page(session, account_id, page)


async def verify_chain(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int = 1000
) -> list[str]:
    """Everything wrong with an account's chain (empty when sound): sequence gaps, a
    `balance_before` unlike the previous `balance_after`, a move other than ±amount, and an
    account balance or last sequence unlike its last entry's."""
    account = await get_account(session, account_id)
    links = await repository.broken_links(session, account_id, limit)
    problems = [problem for link in links for problem in _describe(link)]
    end = await repository.chain_end(session, account_id)
    if account.balance != end.last_after:
        problems.append(f"account balance {account.balance} != last balance_after {end.last_after}")
    if account.last_sequence != end.last_sequence:
        problems.append(
            f"account last_sequence {account.last_sequence} != last entry {end.last_sequence}"
        )
    if end.entries != end.last_sequence:
        problems.append(f"{end.entries} entries for sequences 1..{end.last_sequence}")
    return problems


def _describe(link: repository.ChainLink) -> list[str]:
    seq, problems = link.sequence, []
    if link.sequence != link.previous_sequence + 1:
        problems.append(f"sequence {seq} follows {link.previous_sequence}")
    if link.balance_before != link.previous_after:
        problems.append(
            f"sequence {seq}: balance_before {link.balance_before}"
            f" != previous balance_after {link.previous_after}"
        )
    sign = 1 if link.direction == Direction.EARN else -1
    if link.balance_after - link.balance_before != sign * link.amount:
        problems.append(
            f"sequence {seq}: {link.direction} of {link.amount} moved the balance"
            f" from {link.balance_before} to {link.balance_after}"
        )
    return problems
