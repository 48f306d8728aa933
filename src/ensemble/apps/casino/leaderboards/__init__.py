"""Leaderboards: Redis sorted sets of net coin winnings per game and period, kept by each
hand and rebuildable from `casino.hands`."""
