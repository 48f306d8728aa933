"""Rewards (grants of coins, gems or items, once per idempotency key), the daily login reward
and the login streak with its calendar and shields."""
