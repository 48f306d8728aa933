"""The slot (A3): the published paytable, spins paid through the ledger, win streaks."""
