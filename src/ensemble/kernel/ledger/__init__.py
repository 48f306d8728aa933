"""Append-only balance ledger: accounts per (realm, owner, currency), chained entries,
idempotency keys, no negative balance, exact under concurrency.

Generic on purpose: B0's points, Casino's coins and gems are accounts of different
currencies. See `docs/decisions/0006-ledger.md`.
"""

from ensemble.kernel.ledger.domain import AccountOwner, PostingRequest
from ensemble.kernel.ledger.errors import AccountNotFound, IdempotencyKeyReused, InsufficientBalance
from ensemble.kernel.ledger.group import GroupCommitter
from ensemble.kernel.ledger.models import Account, Direction, Entry
from ensemble.kernel.ledger.service import (
    Posting,
    earn,
    entries_page,
    find_account,
    get_account,
    open_account,
    post,
    post_by_owner,
    spend,
    spend_by_owner,
    verify_chain,
)

__all__ = [
    "Account",
    "AccountNotFound",
    "AccountOwner",
    "Direction",
    "Entry",
    "GroupCommitter",
    "IdempotencyKeyReused",
    "InsufficientBalance",
    "Posting",
    "PostingRequest",
    "earn",
    "entries_page",
    "find_account",
    "get_account",
    "open_account",
    "post",
    "post_by_owner",
    "spend",
    "spend_by_owner",
    "verify_chain",
]
