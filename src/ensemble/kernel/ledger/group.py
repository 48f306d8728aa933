"""Group commit: concurrent postings on one account share one transaction.

A hot account serialises its writers on one row lock, held from the UPDATE until the
COMMIT. `GroupCommitter` turns N waiting writers into one round: one UPDATE with the
summed change (when the balance allows every posting in arrival order), one multi-row
INSERT of the entries and one COMMIT; each caller still gets its own entry or its own
error. Postings that arrive while a round commits form the next round, so a lone posting
waits for nothing and a crowd is absorbed in a few rounds.

Unlike `service.post`, the committer owns its transactions: use it where a posting is a
unit of work of its own (a game spending coins), not inside a caller's transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Unpack

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.errors import AppError
from ensemble.kernel.ledger import repository
from ensemble.kernel.ledger.domain import (
    PostingFields,
    PostingRequest,
    accepted_in_order,
    lowest_running_delta,
    replayed,
)
from ensemble.kernel.ledger.errors import AccountNotFound, InsufficientBalance
from ensemble.kernel.ledger.models import Direction, Entry
from ensemble.kernel.ledger.repository import Applied

KEY_CONSTRAINT = "uq_entries_account_idempotency_key"

Outcome = Entry | AppError


@dataclass
class _Waiter:
    request: PostingRequest
    future: asyncio.Future[Entry]


class GroupCommitter:
    """Posts through per-account rounds of one transaction each (see the module doc).

    A caller cancelled before its round starts posts nothing; once its round has started the
    posting may still commit (as with a client that disconnects after a commit).
    """

    def __init__(self, database: Database, *, max_batch: int = 500, attempts: int = 3) -> None:
        self._database = database
        self._max_batch = max_batch
        self._attempts = attempts
        self._queues: dict[uuid.UUID, deque[_Waiter]] = {}
        self._drainers: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def earn(self, **fields: Unpack[PostingFields]) -> Entry:
        return await self.post(PostingRequest(direction=Direction.EARN, **fields))

    async def spend(self, **fields: Unpack[PostingFields]) -> Entry:
        return await self.post(PostingRequest(direction=Direction.SPEND, **fields))

    async def post(self, request: PostingRequest) -> Entry:
        """The committed entry (or the original, for a re-sent key); raises like `service.post`."""
        request.validate()
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        account_id = request.account_id
        self._queues.setdefault(account_id, deque()).append(_Waiter(request, future))
        if account_id not in self._drainers:
            self._drainers[account_id] = asyncio.create_task(self._drain(account_id))
        return await future

    async def wait_idle(self) -> None:
        """Wait until every queued posting has been committed or refused."""
        while self._drainers:
            await asyncio.gather(*self._drainers.values(), return_exceptions=True)

    # Rounds

    async def _drain(self, account_id: uuid.UUID) -> None:
        queue = self._queues[account_id]
        try:
            while batch := self._take(queue):
                await self._round(batch)
        finally:
            del self._drainers[account_id]
            del self._queues[account_id]
            _cancel(queue)  # left over only when the drainer itself was cancelled

    def _take(self, queue: deque[_Waiter]) -> list[_Waiter]:
        """The next round: waiting callers in arrival order, each idempotency key once (a
        twin waits for the next round, where it finds the entry its sibling recorded)."""
        batch: list[_Waiter] = []
        deferred: list[_Waiter] = []
        keys: set[str] = set()
        while queue and len(batch) < self._max_batch:
            waiter = queue.popleft()
            key = waiter.request.idempotency_key
            if waiter.future.done():
                continue
            if key is not None and key in keys:
                deferred.append(waiter)
                continue
            if key is not None:
                keys.add(key)
            batch.append(waiter)
        queue.extendleft(reversed(deferred))
        return batch

    async def _round(self, batch: list[_Waiter]) -> None:
        requests = [waiter.request for waiter in batch]
        try:
            outcomes = await self._commit(requests)
        except asyncio.CancelledError:
            _cancel(batch)
            raise
        except Exception as exc:
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            return
        for waiter, outcome in zip(batch, outcomes, strict=True):
            if waiter.future.done():
                continue
            if isinstance(outcome, Entry):
                waiter.future.set_result(outcome)
            else:
                waiter.future.set_exception(outcome)

    async def _commit(self, requests: list[PostingRequest]) -> list[Outcome]:
        """One transaction for the round, retried when a writer outside this committer took
        one of the round's idempotency keys between our key lookup and our insert."""
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._database.unit_of_work() as session:
                    return await post_batch(session, requests)
            except IntegrityError as exc:
                if KEY_CONSTRAINT not in str(exc.orig) or attempt == self._attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _cancel(waiters: Iterable[_Waiter]) -> None:
    for waiter in waiters:
        if not waiter.future.done():
            waiter.future.cancel()


async def post_batch(session: AsyncSession, requests: list[PostingRequest]) -> list[Outcome]:
    """Post several requests of ONE account in arrival order; one outcome per request.

    Replays of recorded keys resolve first. The rest move the balance with one UPDATE when
    the balance allows them all; otherwise the row is locked, the verdicts are decided one by
    one in arrival order, and one UPDATE applies the accepted ones. One INSERT writes the
    entries. No two requests of the batch may carry the same idempotency key.
    """
    account_id = requests[0].account_id
    outcomes: list[Outcome | None] = await _replays(session, account_id, requests)
    fresh = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if fresh:
        at = utcnow()
        accepted, refused = await _apply(session, account_id, [requests[i] for i in fresh], at)
        for position, outcome in refused.items():
            outcomes[fresh[position]] = outcome
        if accepted is not None:
            applied, positions = accepted
            chosen = [requests[fresh[p]] for p in positions]
            entries = _entries(chosen, applied, at)
            await repository.insert_entries(session, [_row(entry) for entry in entries])
            for position, entry in zip(positions, entries, strict=True):
                outcomes[fresh[position]] = entry
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


async def _replays(
    session: AsyncSession, account_id: uuid.UUID, requests: list[PostingRequest]
) -> list[Outcome | None]:
    """The original entry (or the reuse error) of every request whose key is recorded."""
    keys = [r.idempotency_key for r in requests if r.idempotency_key is not None]
    originals = await repository.entries_by_keys(session, account_id, keys) if keys else {}
    outcomes: list[Outcome | None] = []
    for request in requests:
        original = originals.get(request.idempotency_key or "")
        if original is None:
            outcomes.append(None)
            continue
        try:
            outcomes.append(replayed(request, original))
        except AppError as exc:
            outcomes.append(exc)
    return outcomes


async def _apply(
    session: AsyncSession, account_id: uuid.UUID, requests: list[PostingRequest], at: datetime
) -> tuple[tuple[Applied, list[int]] | None, dict[int, AppError]]:
    """Move the balance for the requests it allows: (the account after, accepted positions)
    or None when none is accepted, and the error of each refused position."""
    deltas = [r.delta for r in requests]
    everyone = list(range(len(requests)))
    applied = await repository.apply_net(
        session,
        account_id,
        net=sum(deltas),
        count=len(deltas),
        lowest=lowest_running_delta(deltas),
        at=at,
    )
    if applied is not None:
        return (applied, everyone), {}
    locked = await repository.lock_account(session, account_id)
    if locked is None:
        missing: dict[int, AppError] = {
            i: AccountNotFound(details={"account_id": str(account_id)}) for i in everyone
        }
        return None, missing
    verdicts = accepted_in_order(locked.balance, deltas)
    refused = _refusals(locked.balance, requests, verdicts)
    positions = [i for i, ok in enumerate(verdicts) if ok]
    if not positions:
        return None, refused
    chosen = [deltas[i] for i in positions]
    applied = await repository.apply_net(
        session, account_id, net=sum(chosen), count=len(chosen), lowest=0, at=at
    )
    assert applied is not None, "the locked account vanished"
    return (applied, positions), refused


def _refusals(
    balance: int, requests: list[PostingRequest], verdicts: list[bool]
) -> dict[int, AppError]:
    """An `InsufficientBalance` for each refused request, with the balance it met."""
    refused: dict[int, AppError] = {}
    for i, (request, ok) in enumerate(zip(requests, verdicts, strict=True)):
        if ok:
            balance += request.delta
            continue
        refused[i] = InsufficientBalance(
            details={
                "account_id": str(request.account_id),
                "balance": balance,
                "amount": request.amount,
            }
        )
    return refused


def _entries(requests: list[PostingRequest], applied: Applied, at: datetime) -> list[Entry]:
    """The entries of accepted requests, chained from the balance before the round."""
    balance = applied.balance - sum(r.delta for r in requests)
    sequence = applied.last_sequence - len(requests)
    entries: list[Entry] = []
    for request in requests:
        sequence += 1
        entries.append(request.entry(new_id(), sequence=sequence, balance_before=balance, at=at))
        balance += request.delta
    return entries


def _row(entry: Entry) -> dict[str, object]:
    return {column: getattr(entry, column) for column in _COLUMNS}


_COLUMNS = [column.key for column in Entry.__table__.columns]
