"""Ledger errors. Apps may re-raise them under their own code (e.g. `insufficient_points`)."""

from __future__ import annotations

from ensemble.kernel.errors import AppError, Conflict, NotFound


class InsufficientBalance(AppError):
    """A spend larger than the balance: nothing was written."""

    status_code = 409
    code = "insufficient_balance"
    message = "The balance is too low for this spend."


class IdempotencyKeyReused(Conflict):
    """The key already recorded a posting with other content (direction, amount, reason, …)."""

    code = "idempotency_key_reused"
    message = "This idempotency key was already used for a different posting."


class AccountNotFound(NotFound):
    code = "ledger_account_not_found"
    message = "The ledger account does not exist."
