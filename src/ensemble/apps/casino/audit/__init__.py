"""The append-only log of every admin action."""
